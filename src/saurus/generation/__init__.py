"""Generation and scoring: sampling, novelty, evaluation."""
