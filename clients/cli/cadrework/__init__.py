"""`fupin cadres visit|visits|assess|recall|recalls` (CadreWorkService) and the fairness lines
the run printers show (commands.py, fairness.py)."""
