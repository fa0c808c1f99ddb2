FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs a key at build time only; the real one comes from the environment.
RUN SECRET_KEY=build-only-collectstatic python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 app && chown -R app /app
USER app
EXPOSE 8000
# Migrations run once per release: `docker compose run --rm web python manage.py migrate`.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "config.wsgi:application"]
