from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reservex.settings")

application = get_wsgi_application()

# Import the URLconf with every view it names and compile its patterns as the worker starts: else the
# first requests a new worker takes (a deploy, a restart) pay for it, up to tens of ms each in a burst.
reverse("healthz")
