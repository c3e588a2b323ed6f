"""The vae track: AE versus the KL VAE versus Su's simple regulariser (Su 7725).

Modules: ``protocol`` (Settings, run, evaluation, cost), ``model`` (the autoencoder and the
``AEConfig`` a method returns), ``metrics`` (MMD, Gaussian fit, the digit classifier, interpolation),
``claims``, ``codes`` (2-D code samples and their figure).
"""

from harness.tracks.vae.protocol import VAE

__all__ = ["VAE"]
