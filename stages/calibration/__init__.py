"""The calibration: synthetic experiments shaped like the measured one, and its own units resampled, run
through the compare stage's code to measure the error rates of its verdicts."""
