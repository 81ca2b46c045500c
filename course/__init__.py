"""Instructor tooling of the U-Net segmentation course."""
