"""Landmarks on any photo or video: detectors, the ``Predictor``, tracking, outputs.

``heatmark.Predictor`` is the entry point (``heatmark.predict.predictor``). Nothing in this
package imports ``heatmark.train``.
"""
