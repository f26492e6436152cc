"""Music: MIDI files as token streams for the core engines, the classic jazz exercise, and
musical quality. Needs the 'music' extra (symusic, miditok, music21, mido, pretty_midi),
whose packages are imported only when used.

>>> from saurus.music import encode_midi, decode_tokens
>>> tokens = encode_midi("song.mid")          # ['Bar_None', 'TimeSig_4/4', 'Position_0', ...]
>>> decode_tokens(tokens, "copy.mid")         # the number of notes written
"""

from saurus.music.tokens import decode_tokens, encode_midi

__all__ = ["decode_tokens", "encode_midi"]
