"""Inception Score, FID and KID on top of TF-GAN's evaluation math, and an MNIST domain classifier."""
