"""`python -m uwsgi_fast ARGS`: the same as the `uwsgi-fast` console script."""
from uwsgi_fast import main

main()
