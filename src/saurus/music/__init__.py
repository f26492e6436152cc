"""Music: MIDI files as token streams for the core engines, the classic jazz exercise, and musical quality."""
