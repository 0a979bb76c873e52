"""Exercises: write the talk's key pieces yourself, and have the project check them.

    python -m exercises                       # the six, and where each stands
    python -m exercises check knn             # checks exercises/knn.py
    python -m exercises check knn --file my_knn.py

In a notebook: `from exercises import check; check("knn")` checks the functions
the notebook defined (or, where it defined none, exercises/knn.py).
Stuck? Each exercise's answer is in exercises/solutions/.
"""
import sys

# name: (the slide it comes from, the functions the learner writes)
EXERCISES = {
    "knn": ('"An idea" (knn_baseline.py)', ["distances"]),
    "gradient": ('"Theano" (1_linear_regression.py)', ["gradient"]),
    "softmax": ('"A \'modern\' net", numerically stable softmax (4_modern_net.py)', ["softmax"]),
    "sgd": ('"Understanding SGD" (3_net.py)', ["sgd"]),
    "modern": ('"Understanding RMSprop", "Noise injected into model" (4_modern_net.py)',
               ["RMSprop", "dropout"]),
    "conv": ('"Convolutional Networks" (toolkit/ops.py)', ["conv2d", "max_pool_2d"]),
}


def check(name, file=None):
    """Check exercise `name` and print the verdict. Without `file`, the functions
    that the calling notebook (or script) defines are checked where it defines
    them all, else the exercise's file in exercises/."""
    from exercises import checks
    caller = sys._getframe(1).f_globals
    print(checks.run(name, file=file, namespace=None if file else caller)[1])
