"""The recommender's maths, free of Django: data frames and sparse matrices in, arrays out.

``interactions`` turns purchase lines into customer x product matrices, ``rankers`` scores
products for customers, ``hybrid`` blends the rankers with weights tuned on a time split,
``ratings`` predicts star ratings with Surprise, ``metrics`` implements the evaluation protocol
and ``artifacts`` stores arrays as ``.npz`` with a checked sha256.
"""
