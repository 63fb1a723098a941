"""Diffusion models written once against one SDE abstraction (after score_sde_pytorch's sde_lib)."""
