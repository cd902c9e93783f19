#!/bin/sh
# vardval-backup.sh — online backup of the ledger and the raw archive (docs/production.md,
# "Back up"). Safe while vardval runs.
#
#   vardval-backup.sh DEST
#
# writes
#   DEST/db/vardval-YYYY-MM-DDTHHMMSS.db      (SQLite, via the online backup API), or
#   DEST/db/vardval-YYYY-MM-DDTHHMMSS.dump    (PostgreSQL, pg_dump -Fc)
#   DEST/archive/                             (incremental copy of the content-addressed archive)
#
# The database is copied first and the archive second. vardval writes a message into the
# archive before it records it in the database, so every message the database copy refers to
# is in the archive copy.
#
# Environment:
#   DB_URL       sqlite:///var/lib/vardval/vardval.db (default) or a postgres:// URL
#                (libpq reads PGPASSFILE / PGPASSWORD for the password)
#   ARCHIVE_DIR  /var/lib/vardval/archive (default)
#   KEEP_DAYS    delete database copies older than this many days (default 30; 0 = keep all).
#                Archive files are never deleted.
#
# Run as the vardval user for SQLite (so that SQLite's -wal/-shm files are never created by
# another user), e.g. from a systemd timer with User=vardval, or
#   sudo -u vardval /usr/local/lib/vardval/vardval-backup.sh /srv/backup/vardval
# Needs sqlite3 (SQLite) or pg_dump (PostgreSQL), and rsync.
# The copies hold personal data (mail from the clinics): keep DEST as protected as the
# original and encrypt whatever leaves the host.

set -eu

dest="${1:?usage: vardval-backup.sh DEST}"
db_url="${DB_URL:-sqlite:///var/lib/vardval/vardval.db}"
archive_dir="${ARCHIVE_DIR:-/var/lib/vardval/archive}"
keep_days="${KEEP_DAYS:-30}"
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"

umask 077
mkdir -p "$dest/db" "$dest/archive"

case "$db_url" in
sqlite://*)
    db="${db_url#sqlite://}"
    db="${db%%\?*}"
    out="$dest/db/vardval-$stamp.db"
    # .backup copies a consistent snapshot page by page (WAL included) without stopping the
    # writer; .timeout waits for a moment when vardval holds the write lock.
    sqlite3 "$db" ".timeout 10000" ".backup '$out'"
    check="$(sqlite3 "$out" "PRAGMA integrity_check;")"
    if [ "$check" != "ok" ]; then
        echo "vardval-backup: integrity check of $out failed: $check" >&2
        exit 1
    fi
    ;;
postgres://* | postgresql://*)
    out="$dest/db/vardval-$stamp.dump"
    pg_dump --format=custom --file="$out" --dbname="$db_url"
    pg_restore --list "$out" >/dev/null
    ;;
*)
    echo "vardval-backup: unsupported DB_URL $db_url" >&2
    exit 2
    ;;
esac

# The archive is append-only: a file, once renamed into place, never changes and is never
# removed. So a plain incremental copy is consistent; skip the temporary files of writes in
# progress (.<sha>.<pid>.tmp) and never use --delete.
rsync -a --exclude='.*.tmp' "$archive_dir/" "$dest/archive/"

if [ "$keep_days" -gt 0 ]; then
    find "$dest/db" -maxdepth 1 -type f -name 'vardval-*' -mtime +"$keep_days" -delete
fi
echo "vardval-backup: $out and $dest/archive/ ($(find "$dest/archive" -type f -name '*.eml' | wc -l) messages)"
