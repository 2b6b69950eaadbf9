"""Cadenza Studio: a web page (Gradio) to generate, see, hear, compare and train.

A thin layer over the registry and the Generator API: the controls of every
model come from its ``Config`` and ``Sampling`` dataclasses, so a new model
appears here without editing the studio. ``cadenza studio`` starts it.
"""

import os

# Gradio reports usage to its servers unless told not to; the studio never does.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from cadenza.studio.app import build_app, launch

__all__ = ["build_app", "launch"]
