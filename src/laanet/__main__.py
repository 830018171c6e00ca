"""``python -m laanet ...`` (and ``torchrun --nproc_per_node N -m laanet train ...``): the ``laanet`` command."""
from laanet.cli import main

if __name__ == "__main__":
    main()
