"""The thesis's own methods (intrinsic dimension, CDSM, ScoreVAE, pullback geometry)."""
