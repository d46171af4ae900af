"""Measurement splitting (SSDU), Chapter 8's self-supervised alternative to eq. (9).

It became a fine-tuning regime of the core: the split and its loss live in
:mod:`spadelib.splitting`, beside the other losses. This module keeps the old import path
(``from spadelib.beyond import selfsup``) working; it re-exports that module's names.
"""
from ..splitting import (HELD_OUT_REGIME, REGIME_NAME, SPLIT_SCORES, SPLIT_UNITS, centre_lines,
                         check_split_data, check_split_options, split_loss, split_mask,
                         split_measurement)

__all__ = ["SPLIT_UNITS", "SPLIT_SCORES", "REGIME_NAME", "HELD_OUT_REGIME", "centre_lines",
           "split_mask", "split_measurement", "split_loss", "check_split_data", "check_split_options"]
