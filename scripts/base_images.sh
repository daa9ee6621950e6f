#!/usr/bin/env bash
# Build the base images fupin's Dockerfiles and docker-compose.yml need from Debian packages,
# for a Docker engine that cannot pull from Docker Hub (only the package registries reachable).
#
#   scripts/base_images.sh            # build the missing ones
#   scripts/base_images.sh --force    # rebuild all three
#
# Each image is a Debian bookworm root file system made by mmdebstrap into a tarball and
# loaded with `docker import`. The tags are our own (fupin-base/...), never the public names,
# so nothing shadows Docker Hub; docker-compose.yml picks them through the variables below,
# and without them uses the public images (python:3.11-slim, postgres:15, nginx:1.27):
#
#   FUPIN_PYTHON_IMAGE=fupin-base/python:3.11-bookworm      python3.11 + venv (pyproject: 3.11)
#   FUPIN_POSTGRES_IMAGE=fupin-base/postgres:15-bookworm    postgresql-15, deploy/postgres/entrypoint.sh
#   FUPIN_NGINX_IMAGE=fupin-base/nginx:bookworm             nginx (grpc_pass in front of matchers)
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${FUPIN_DEBIAN_SUITE:-bookworm}
MIRROR=${FUPIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${FUPIN_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
DOCKER=${DOCKER:-docker}
force=${1:-}

command -v mmdebstrap >/dev/null || apt-get install -y -q mmdebstrap >/dev/null

# build TAG PACKAGES CHANGE... : a minbase root with PACKAGES, imported with docker CHANGEs.
build() {
  local tag=$1 packages=$2
  shift 2
  if [[ "$force" != "--force" ]] && $DOCKER image inspect "$tag" >/dev/null 2>&1; then
    echo "base_images: $tag exists"
    return
  fi
  local tarball
  tarball=$(mktemp --suffix=.tar)
  echo "base_images: building $tag ($packages)"
  # The images trust what this host trusts: its own CAs (a TLS-inspecting proxy in front of
  # the package registries, say) go in too, or pip in the image would refuse the registry.
  local trust=()
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    trust=(--customize-hook='copy-in /usr/local/share/ca-certificates /usr/local/share'
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1 || true')
  fi
  # minbase: essential + apt; no recommends; apt lists and docs dropped to keep the image small.
  mmdebstrap --quiet --variant=minbase --include="$packages" "${trust[@]}" \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$SUITE" "$tarball" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY $SUITE-security main"
  local changes=()
  for change in "$@"; do changes+=(--change "$change"); done
  $DOCKER import "${changes[@]}" "$tarball" "$tag" >/dev/null
  rm -f "$tarball"
  echo "base_images: $tag $($DOCKER image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec)"
}

build fupin-base/python:3.11-bookworm "python3.11,python3.11-venv,ca-certificates" \
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  'ENV LANG=C.UTF-8' \
  'CMD ["python3.11"]'

# The PostgreSQL image: Debian's server, and an entrypoint that honours the public image's
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start.
postgres_tag=fupin-base/postgres:15-bookworm
build "$postgres_tag-root" "postgresql-15,postgresql-client-15,util-linux" \
  'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  'ENV LANG=C.UTF-8' 'ENV PGDATA=/var/lib/postgresql/data'
if [[ "$force" == "--force" ]] || ! $DOCKER image inspect "$postgres_tag" >/dev/null 2>&1; then
  $DOCKER build --quiet -t "$postgres_tag" --build-arg BASE="$postgres_tag-root" \
    deploy/postgres >/dev/null
  echo "base_images: $postgres_tag"
fi

build fupin-base/nginx:bookworm "nginx" \
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  'CMD ["nginx", "-g", "daemon off;"]'
