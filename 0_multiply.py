"""The talk's first slide: a symbolic multiplication, compiled to a function."""
import pytensor
from pytensor import tensor as T

import trainer

args = trainer.parse_mode(__doc__)  # --mode C, NUMBA or JAX: where the function compiles to

a = T.scalar()
b = T.scalar()

y = a * b

multiply = pytensor.function(inputs=[a, b], outputs=y, mode=args.mode)

print(multiply(1, 2))  # 2
print(multiply(3, 3))  # 9
