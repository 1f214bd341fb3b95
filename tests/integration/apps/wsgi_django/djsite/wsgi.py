"""WSGI entry point, as `django-admin startproject` writes it; `validated` is the same
application behind wsgiref.validate.validator."""
import os
import warnings
from wsgiref.validate import WSGIWarning, validator

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

application = get_wsgi_application()

warnings.simplefilter("error", WSGIWarning)
validated = validator(application)
