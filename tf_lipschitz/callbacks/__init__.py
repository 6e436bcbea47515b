"""Keras callbacks: spectral gradient clamping, domain/range logging, Lipschitz, sample and metric monitors."""
