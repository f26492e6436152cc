"""saurus export: one self-contained HTML page that generates names in the browser."""
