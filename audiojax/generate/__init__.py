"""Spectrogram-image music generator: U-Net, objectives, samplers, mel images,
metrics.
"""
