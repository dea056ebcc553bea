"""Landmarks on any photo or video: detectors, the ``Predictor``, tracking, outputs.

``heatmark.Predictor`` is the entry point (``heatmark.predict.predictor``). Nothing in this
package needs the training package, directly or through what it imports
(``tests/predict/test_no_training_import.py`` checks both).
"""
