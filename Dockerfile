FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 RESERVEX_ENV=prod RESERVEX_BIND=0.0.0.0
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input \
    && useradd --system --uid 10001 reservex
USER reservex
EXPOSE 8000
CMD ["gunicorn", "reservex.wsgi", "--config", "reservex/gunicorn_conf.py"]
