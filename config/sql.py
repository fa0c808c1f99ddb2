"""Hot-path statements without the ORM's per-call cost (issue 19): the delivery engine's claim and record,
the JWT user query, `/send`'s recipient, the multi-row inserts of history pages.

Building and compiling a query costs the ORM ~0.3–2 ms of CPU each time (the claim, with its joins and
subqueries, ~2 ms): more than the round trip. Here a SELECT is built by the ORM once, with a marker in
place of the primary key, and run again with the real key (`Compiled`); rows become model instances as a
`QuerySet` makes them (the related rows of `select_related`, the annotations). A hand-written SELECT of
several models' rows reads them back the same way (`Columns`). Writes of a few columns are plain
parametrised UPDATE / INSERT statements (`update_row`, `insert_row`; many rows: `insert_rows`), the values
adapted by the fields as `save()` adapts them. All of it goes through Django's cursor (its execute wrappers,
the connection's transaction) and works on PostgreSQL and SQLite alike.
"""

import datetime
import decimal
import json
import re
import threading
import uuid
from contextlib import nullcontext
from functools import lru_cache, partial

from django.db import connections, router, transaction
from django.db.models import CharField, IntegerField, TextField
from django.db.models.query import get_related_populators
from django.utils import timezone
from psycopg.sql import Literal
from psycopg.types.json import Json, Jsonb

MARK = -7_421_903_117  # a primary key no row has: its one place among the parameters is where the real key goes
MARK32 = -2_074_190_311  # the same for a 32-bit key (Django proves a larger one matches nothing, and drops the query)
MARK_UUID = uuid.UUID("74219031-1700-4000-8000-000000000000")  # the same for a UUID key

_local = threading.local()  # compiled queries per thread: a compiler holds its thread's connection


class Compiled:
    """One SELECT of a model by primary key, compiled once (see the module's docstring)."""

    def __init__(self, queryset, mark=MARK):
        self.db = queryset.db
        compiler = queryset.query.get_compiler(self.db)
        sql, params = compiler.as_sql()
        self.sql = short_aliases(sql, compiler)
        # A UUID key is bound as its hex string where the database has no UUID type (SQLite).
        as_hex = isinstance(mark, uuid.UUID) and mark.hex in params
        marks = [index for index, value in enumerate(params) if value == (mark.hex if as_hex else mark)]
        if len(marks) != 1:
            raise ValueError(f"the query must take the key (its mark) exactly once, not {len(marks)} times")
        self.params, self.mark, self.as_hex = list(params), marks[0], as_hex
        self.sql, self.params, self.mark = _constants_inlined(self.sql, self.params, self.mark, self.db)
        # What `ModelIterable` reads from the compiler, kept with it.
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        self.compiler, self.model = compiler, klass_info["model"]
        self.own = slice(fields[0], fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in select[self.own]]
        self.related = get_related_populators(klass_info, select, self.db)
        self.annotations = list(compiler.annotation_col_map.items())
        self.converters = compiler.get_converters([column[0] for column in select])

    def statement(self, pk, *, around: tuple[str, str] = ("", ""), params_after=()) -> tuple[str, list]:
        """The SQL and parameters for this key. `around`: SQL before and after the query (a statement that
        uses it as a subquery and returns its row, e.g. `WITH c AS (…) UPDATE … RETURNING c.*`), with
        `params_after` for the placeholders after it."""
        params = self.params.copy()
        params[self.mark] = pk.hex if self.as_hex else pk
        return around[0] + self.sql + around[1], [*params, *params_after]

    def get(self, pk, **statement):
        """The instance with this key, or None (`statement`: see `statement`)."""
        with connections[self.db].cursor() as cursor:
            cursor.execute(*self.statement(pk, **statement))
            row = cursor.fetchone()
        if row is None:
            return None
        if self.converters:
            row = next(iter(self.compiler.apply_converters([row], self.converters)))
        instance = self.model.from_db(self.db, self.init_list, row[self.own])
        for populator in self.related:
            populator.populate(row, instance)
        for name, index in self.annotations:
            setattr(instance, name, row[index])
        return instance


_INLINED = (str, int)  # constants written into the SQL (bool is an int); other types (times, UUIDs) stay bound


@lru_cache(maxsize=256, typed=True)  # the code's constants: a few, each quoted once (typed: True is not 1)
def literal(value) -> str:
    """`value` as an SQL literal for PostgreSQL (psycopg's quoting), ready to stand in a statement that still has %s
    placeholders (a % is doubled). For the code's constants (statuses, kinds) that a partial index's condition names:
    see `_constants_inlined`."""
    plain = bool(value) if isinstance(value, bool) else int(value) if isinstance(value, int) else str(value)
    return Literal(plain).as_string(None).replace("%", "%%")  # plain: not an enum member, not psycopg's Int4


def literals(values) -> str:
    """`literal` of each, comma-separated (an IN list)."""
    return ", ".join(literal(value) for value in values)


def _constants_inlined(sql: str, params: list, mark: int | None, using: str) -> tuple[str, list, int | None]:
    """On PostgreSQL: every parameter of a compiled query but its key written into the SQL. They are the same on every
    run (the code's constants: statuses, kinds, the empty ordering key), and a prepared statement's generic plan,
    which PostgreSQL may keep after its fifth run, can use a partial index only when the SQL itself proves the
    index's condition: `status NOT IN ($3, $4)` proves nothing, and the chain check walked every row of the tenant
    (communications/tests/performance/test_explain.py checks the generic plans)."""
    if connections[using].vendor != "postgresql":
        return sql, params, mark
    parts = re.split(r"(%s|%%)", sql)
    kept, number, out = [], 0, []
    for part in parts:
        if part == "%s":
            value = params[number]
            if number != mark and isinstance(value, _INLINED):
                part = literal(value)
            else:
                if number == mark:
                    mark = len(kept)
                kept.append(value)
            number += 1
        out.append(part)
    return "".join(out), kept, mark


def rows_inlined(queryset) -> list[tuple]:
    """The rows of a `values_list` queryset, its constants written into the SQL on PostgreSQL (`_constants_inlined`;
    bound values of other types, times for one, stay bound): for a periodic query, whose prepared statement
    PostgreSQL may otherwise plan once without them and keep a plan that walks the whole table."""
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(*statement_inlined(queryset))
        return cursor.fetchall()


def statement_inlined(queryset) -> tuple[str, list]:
    """The SQL and parameters `rows_inlined` runs (also for the EXPLAIN tests)."""
    sql, params = queryset.query.sql_with_params()
    sql, params, _ = _constants_inlined(sql, list(params), None, queryset.db)
    return sql, params


def short_aliases(sql: str, compiler) -> str:
    """The compiled SQL with a short alias for each table the query names by its full name (`"table".` before
    every column, ~25 characters each): psycopg parses a statement of at most 4,096 characters once per process
    (`psycopg._queries.MAX_CACHED_STATEMENT_LENGTH`), a longer one on every run. Subqueries are left alone: Django
    gives their tables aliases of their own (U0, U1, …), and a bare `"table".` there means the outer row."""
    connection = connections[compiler.using]
    for number, (alias, join) in enumerate(compiler.query.alias_map.items()):
        if alias != join.table_name:
            continue
        quoted, short = connection.ops.quote_name(alias), f"x{number}"
        sql = re.sub(rf"\b(FROM|JOIN) {re.escape(quoted)}(?! U\d)", rf"\1 {quoted} {short}", sql)
        sql = sql.replace(f" OF {quoted}", f" OF {short}").replace(f"{quoted}.", f"{short}.")
    return sql


def compiled(key, build, mark=MARK) -> Compiled:
    """The compiled query under `key` for this thread, built by `build()` (a queryset filtered by `mark`)
    on first use."""
    cache = getattr(_local, "queries", None)
    if cache is None:
        cache = _local.queries = {}
    query = cache.get(key)
    if query is None:
        queryset = build()
        # Django compiles a locking query only inside a transaction, even for a statement that runs it in one
        # (`WITH … FOR UPDATE … UPDATE …` in autocommit): compile it in one, without a savepoint.
        with transaction.atomic(using=queryset.db, savepoint=False):
            query = cache[key] = Compiled(queryset, mark)
    return query


def update_row(model, pk, values: dict, *, where: dict | None = None) -> int:
    """UPDATE these columns of one row by primary key (and `where`: column = value, all of them); returns the
    rows updated (0 or 1)."""
    sql, params = update_row_sql(model, pk, values, where=where)
    with connections[router.db_for_write(model)].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_row_sql(model, pk, values: dict, *, where: dict | None = None) -> tuple[str, list]:
    """The statement of `update_row` (to run as part of a larger one). Its text is built once per process for each
    shape (the columns, the conditions, which values are NULL); each call prepares only the values."""
    connection = connections[router.db_for_write(model)]
    where = where or {}
    written, conditions = _fields(model, tuple(values), connection), _fields(model, ("pk", *where), connection)
    prepared = written.prepare(values.values(), connection)
    nulls = tuple(value is None for value in prepared)
    shape = (connection.alias, model, written.names, conditions.names, nulls)
    sql = _updates.get(shape)
    if sql is None:
        # NULL written out, not bound: fewer parameters (psycopg caches the parsing of a statement of at most 50)
        sql = _updates[shape] = "UPDATE {} SET {} WHERE {}".format(  # noqa: S608 (model's own names; values bound)
            connection.ops.quote_name(model._meta.db_table),
            ", ".join(f"{column} = {'NULL' if null else '%s'}" for column, null in zip(written.columns, nulls,
                                                                                          strict=True)),
            " AND ".join(f"{column} = %s" for column in conditions.columns))
    keys = conditions.prepare((pk, *where.values()), connection, save=False)
    return sql, [*(value for value in prepared if value is not None), *keys]


_updates: dict = {}  # shape → the UPDATE's text


def insert_row(model, values: dict, returning: tuple[str, ...] = ()) -> tuple | None:
    """INSERT one row of these columns (the rest take their database defaults: none here may need
    a Python-side default); returns the `returning` columns of the row (None without them)."""
    connection = connections[router.db_for_write(model)]
    sql, params = insert_row_sql(model, values)
    if returning:
        sql += f" RETURNING {', '.join(connection.ops.quote_name(column) for column in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if returning else None


def insert_row_sql(model, values: dict, *, source: str = "") -> tuple[str, list]:
    """The statement of `insert_row` (to run as part of a larger one). `source`: the name of a CTE; the row is
    then inserted once for each row it returns (`INSERT … SELECT … FROM source`: none when it returned none).
    Its text is built once per process for each shape (the columns, the source)."""
    connection = connections[router.db_for_write(model)]
    written = _fields(model, tuple(values), connection)
    shape = (connection.alias, model, written.names, source)
    sql = _inserts.get(shape)
    if sql is None:
        placeholders = ", ".join(["%s"] * len(written.columns))
        sql = _inserts[shape] = "INSERT INTO {} ({}) {}".format(  # noqa: S608 (model's own names; values bound)
            connection.ops.quote_name(model._meta.db_table), ", ".join(written.columns),
            f"SELECT {placeholders} FROM {connection.ops.quote_name(source)}" if source  # noqa: S608
            else f"VALUES ({placeholders})")
    return sql, written.prepare(values.values(), connection)


_inserts: dict = {}  # shape → the INSERT's text


def conditions_sql(model, values: dict) -> tuple[str, list]:
    """`column = %s AND …` for these fields of `model` (`column IS NULL` for None), with the values prepared as a
    condition's (`get_db_prep_value`)."""
    connection = connections[router.db_for_write(model)]
    fields = _fields(model, tuple(values), connection)
    sql = " AND ".join(f"{column} IS NULL" if value is None else f"{column} = %s"
                       for column, value in zip(fields.columns, values.values(), strict=True))
    return sql, [value for value in fields.prepare(values.values(), connection, save=False) if value is not None]


class _Fields:
    """Some fields of `model` by name ("pk" too), as `update_row_sql` and `insert_row_sql` write or match them: their
    quoted columns, and each value prepared as `save()` prepares it (`get_db_prep_save`; a condition's value:
    `get_db_prep_value`), except what that gives back unchanged, bound as it is: a str of a text field, an int of an
    integer field or of a key to one, None where the field writes NULL. Built once per process (`_fields`)."""

    def __init__(self, model, names: tuple[str, ...], connection):
        self.names = names
        fields = [model._meta.pk if name == "pk" else model._meta.get_field(name) for name in names]
        self.columns = [connection.ops.quote_name(field.column) for field in fields]
        self.plan = [(field, _as_is(field), _null(field, connection)) for field in fields]

    def prepare(self, values, connection, *, save: bool = True) -> list:
        times = {}
        return [value if type(value) in as_is or (value is None and null)
                else _value_prepared(field, value, times, connection, save)
                for (field, as_is, null), value in zip(self.plan, values, strict=True)]


def _value_prepared(field, value, times: dict, connection, save: bool = True):
    """`value` as `field` binds it (`get_db_prep_save`; `save=False`: `get_db_prep_value`, a condition's); a time
    repeated across the columns of one statement (now) is prepared once (`times`). The callers bind a value as it is
    where that would give it back (`_as_is`, `_null`)."""
    if type(value) is datetime.datetime:
        key = (type(field), value)
        if key not in times:
            times[key] = field.get_db_prep_save(value, connection)
        return times[key]
    return field.get_db_prep_save(value, connection) if save else field.get_db_prep_value(value, connection)


def _as_is(field) -> tuple[type, ...]:
    """The types of value `field` prepares to the value itself (see `_Fields`)."""
    target = field.target_field if field.is_relation and field.many_to_one else field
    if type(target) in (CharField, TextField):
        return (str,)
    if isinstance(target, IntegerField):
        return (int,)
    return ()


_field_sets: dict = {}


def _fields(model, names: tuple[str, ...], connection) -> _Fields:
    key = (connection.alias, model, names)
    found = _field_sets.get(key)
    if found is None:
        found = _field_sets[key] = _Fields(model, names, connection)
    return found


def insert_linked(parent, parent_values: dict, child, child_values: dict, link: str) -> int:
    """INSERT a row of `parent` and a row of `child` whose `link` (attname) is the parent's new key; returns
    that key. A value not given takes the field's default (auto_now fields: now), as in `insert_rows`.

    On PostgreSQL one statement (`WITH parent AS (INSERT … RETURNING id) INSERT …`): atomic by itself, so
    outside a transaction it needs none (no BEGIN/COMMIT round trips); inside one, a savepoint keeps the caller's
    transaction usable after an IntegrityError, as `atomic()` did. Elsewhere (SQLite) two statements in `atomic()`."""
    connection = connections[router.db_for_write(parent)]
    now = timezone.now()
    head, tail = _row(parent, connection), _row(child, connection, skip=(link,))
    parent_params, child_params = head.params(parent_values, now, connection), tail.params(child_values, now, connection)
    link_column, key = connection.ops.quote_name(child._meta.get_field(link).column), head.key
    insert_parent = f"INSERT INTO {head.table} ({head.columns}) VALUES ({head.placeholders})"  # noqa: S608 (models' own names; values bound)
    insert_child = (f"INSERT INTO {tail.table} ({tail.columns}, {link_column}) "  # noqa: S608 (the same)
                    f"VALUES ({tail.placeholders}, {{}})")
    if connection.vendor == "postgresql":
        sql = (f"WITH parent AS ({insert_parent} RETURNING {key}) "  # noqa: S608 (the same)
               f"{insert_child.format(f'(SELECT {key} FROM parent)')} RETURNING {link_column}")  # noqa: S608
        with transaction.atomic(using=connection.alias) if connection.in_atomic_block else nullcontext():
            with connection.cursor() as cursor:
                cursor.execute(sql, [*parent_params, *child_params])
                return cursor.fetchone()[0]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(insert_parent, parent_params)
        pk = connection.ops.last_insert_id(cursor, parent._meta.db_table, parent._meta.pk.column)
        cursor.execute(insert_child.format("%s"), [*child_params, pk])
        return pk


class _Row:
    """How a row of `model` is written by `insert_pair` and `insert_linked`: every concrete column but the serial key
    (and `skip`, attnames the statement fills itself), in order. Built once per process (`_row`)."""

    def __init__(self, model, connection, skip=()):
        quote = connection.ops.quote_name
        self.fields = [f for f in model._meta.concrete_fields
                       if f is not model._meta.auto_field and f.attname not in skip]
        self.table, self.key = quote(model._meta.db_table), quote(model._meta.pk.column)
        self.columns = ", ".join(quote(f.column) for f in self.fields)
        self.placeholders = ", ".join(["%s"] * len(self.fields))
        # per column: the value when none is given (_NOW for auto_now fields, _PER_ROW for a callable default, else the
        # default, prepared once here), the types of value bound as they are and whether None is (`_as_is`, `_null`)
        self.plan = []
        for f in self.fields:
            now = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            default = (_NOW if now else _PER_ROW if f.has_default() and callable(f.default)
                       else _Prepared(f.get_db_prep_save(f.get_default(), connection)))
            self.plan.append((f, f.attname, default, _as_is(f), _null(f, connection)))

    def params(self, values: dict, now, connection) -> list:
        params, times = [], {}
        for field, attname, default, as_is, null in self.plan:
            if attname in values:
                value = values[attname]
            elif type(default) is _Prepared:
                params.append(default.value)
                continue
            else:
                value = now if default is _NOW else field.get_default()
            as_given = type(value) in as_is or (value is None and null)
            params.append(value if as_given else _value_prepared(field, value, times, connection))
        return params


class _Prepared:
    def __init__(self, value):
        self.value = value


_NOW, _PER_ROW = object(), object()


def _null(field, connection) -> bool:
    try:
        return field.get_db_prep_save(None, connection) is None
    except Exception:  # noqa: BLE001 (a field that refuses None: prepared as given)
        return False


_rows: dict = {}


def _row(model, connection, skip=()) -> _Row:
    key = (connection.alias, model, skip)
    if key not in _rows:
        _rows[key] = _Row(model, connection, skip)
    return _rows[key]


_pairs: dict = {}  # (alias, first, second, locked, guard) → (rows, statement): built once per process (no compiler)


def insert_pair(first, first_values: dict, second, second_values: dict, *, lock: int | None = None,
                guard: tuple[str, list] | None = None) -> tuple | None:
    """INSERT a row of `first` and a row of `second` (attname → value; a value not given takes the field's default,
    auto_now fields now, as in `insert_linked`); returns the two rows' keys. `lock`: the key of a transaction-level
    advisory lock taken before the row of `second` is made (its serial key drawn), held until commit, as a
    `SELECT pg_advisory_xact_lock(…)` of its own would hold it (the delivery chains' lock: id order == commit order).
    `guard`: a SELECT (text, parameters) that must give a row for anything to be written, and may lock what it reads
    (`FOR SHARE`): without its row, nothing is written and None is returned.

    On PostgreSQL one statement, its text built once per process: `WITH [guard AS (…),] first AS (INSERT … RETURNING
    id), locked AS (SELECT pg_advisory_xact_lock(%s)) INSERT INTO second (…) SELECT … FROM locked`: the second row is
    selected from the lock's row, so it exists only once the lock is held (the values' types are the columns', as in
    VALUES); with a guard, the first row and the lock are selected from the guard's row. No savepoint: a failure aborts
    the caller's transaction, as any statement. Elsewhere (SQLite: one writer at a time, no advisory locks) the guard
    and two statements in `atomic()`."""
    connection = connections[router.db_for_write(second)]
    guard_sql, guard_params = guard if guard is not None else (None, [])
    cached = (connection.alias, first, second, lock is not None, guard_sql)
    if cached not in _pairs:
        rows = _row(first, connection), _row(second, connection)
        if connection.vendor == "postgresql":
            head, tail = rows
            guarded = " FROM guard" if guard_sql else ""
            ctes = [f"guard AS ({guard_sql})"] if guard_sql else []
            ctes.append(f"first AS (INSERT INTO {head.table} ({head.columns}) "  # noqa: S608 (models' own names)
                        + (f"SELECT {head.placeholders}{guarded}" if guard_sql else f"VALUES ({head.placeholders})")
                        + f" RETURNING {head.key})")
            if lock is not None:
                ctes.append(f"locked AS (SELECT pg_advisory_xact_lock(%s){guarded})")
            source = ("SELECT {} FROM locked" if lock is not None else "SELECT {} FROM first" if guard_sql
                      else "VALUES ({})").format(tail.placeholders)
            sql = (f"WITH {', '.join(ctes)} INSERT INTO {tail.table} ({tail.columns}) {source} "  # noqa: S608
                   f"RETURNING (SELECT {head.key} FROM first), {tail.key}")
        else:
            sql = [f"INSERT INTO {row.table} ({row.columns}) VALUES ({row.placeholders})" for row in rows]  # noqa: S608
        _pairs[cached] = rows, sql
    (head, tail), sql = _pairs[cached]
    now = timezone.now()
    head_params, tail_params = head.params(first_values, now, connection), tail.params(second_values, now, connection)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, [*guard_params, *head_params, *([lock] if lock is not None else []), *tail_params])
            return cursor.fetchone()
    keys = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if guard_sql:
            cursor.execute(guard_sql, guard_params)
            if cursor.fetchone() is None:
                return None
        for model, statement, params in ((first, sql[0], head_params), (second, sql[1], tail_params)):
            cursor.execute(statement, params)
            keys.append(connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column))
    return tuple(keys)


class Columns:
    """The columns of `model` under `alias` in a hand-written SELECT (`sql`, `width` of them), and the instance read
    back from a row of it (`read`): the fields' converters applied as a QuerySet applies them, on PostgreSQL and
    SQLite; None where a LEFT JOIN found no row. For one statement that reads several models' rows at once."""

    def __init__(self, model, alias: str, using: str = "default"):
        connection = connections[using]
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        self.model, self.db, self.width = model, using, len(fields)
        self.sql = ", ".join(f"{quote(alias)}.{quote(field.column)}" for field in fields)
        self.attnames = [field.attname for field in fields]
        self.pk = fields.index(model._meta.pk)
        self.converters = []
        for index, field in enumerate(fields):
            column = field.get_col(alias)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if functions:
                self.converters.append((index, functions, column))

    def read(self, row, start: int):
        values = list(row[start:start + self.width])
        if values[self.pk] is None:
            return None
        connection = connections[self.db]
        for index, functions, column in self.converters:
            value = values[index]
            for function in functions:
                value = function(value, column, connection)
            values[index] = value
        return self.model.from_db(self.db, self.attnames, values)


def _column(field, values: list, connection, as_json: bool = False) -> list:
    """`values` prepared for the database as `save()` prepares them (`as_json`: then written as JSON values); a
    value repeated down the column (the tenant, a status, the timestamps) is prepared once."""
    prepare = partial(_prepared_json if as_json else _prepared, field, connection)
    prepared, column = {}, []
    plain_text = type(field) in (CharField, TextField)  # their preparation gives a str back as it is
    for value in values:
        if plain_text and type(value) is str:
            column.append(value)
            continue
        try:
            column.append(prepared[value])
        except KeyError:
            column.append(prepared.setdefault(value, prepare(value)))
        except TypeError:  # unhashable (JSON)
            column.append(prepare(value))
    return column


def _prepared(field, connection, value):
    return field.get_db_prep_save(value, connection)


def _prepared_json(field, connection, value):
    """The value `save()` would bind, as JSON: time as ISO 8601 (with its offset), UUIDs and decimals as text, a JSON
    field's value as the JSON it holds."""
    value = field.get_db_prep_save(value, connection)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, Json | Jsonb):  # a JSON field's value, encoded by the field's encoder
        return json.loads((value.dumps or json.dumps)(value.obj))
    return value


def insert_rows(model, rows: list[dict], returning: tuple[str, ...] = ()) -> list[tuple]:
    """INSERT `rows` (attname → value; a missing one takes the field's default, auto_now fields the time of the
    statement) with one multi-row statement, skipping the rows a unique constraint already holds (`ON CONFLICT
    DO NOTHING`, as `bulk_create(ignore_conflicts=True)`); returns the `returning` columns of the rows it
    inserted. The ORM's compiler and model instances are skipped (issue 19: they cost more than the insert;
    the history pages of the initial sync and the bulk endpoint).

    On PostgreSQL the rows go as one JSON parameter (`SELECT … FROM json_to_recordset(%s::json) AS r(<column>
    <type>, …)`): a short statement that psycopg parses once (a VALUES list of thousands of placeholders is parsed
    on every call), and one pass of the C JSON encoder (one array per column cost psycopg ~1 µs per value to
    dump: 60 % of the insert's CPU for a page of 500 messages). PostgreSQL reads each value with its column type's
    input function, as it reads a bound parameter. Elsewhere (SQLite) a VALUES list per batch of bind parameters."""
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    defaults = {f.attname: now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
                else f.get_default() for f in fields}
    postgresql = connection.vendor == "postgresql"
    columns = [_column(f, [row.get(f.attname, defaults[f.attname]) for row in rows], connection, as_json=postgresql)
               for f in fields]
    q = connection.ops.quote_name
    names = ", ".join(q(f.column) for f in fields)
    head = f"INSERT INTO {q(model._meta.db_table)} ({names}) "  # noqa: S608
    tail = " ON CONFLICT DO NOTHING" + (f" RETURNING {', '.join(q(c) for c in returning)}" if returning else "")
    if postgresql:
        record = ", ".join(f"{q(f.column)} {f.db_type(connection)}" for f in fields)
        keys = [f.column for f in fields]
        values = json.dumps([dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)], ensure_ascii=False)
        statements = [(f"{head}SELECT {names} FROM json_to_recordset(%s::json) AS r({record}){tail}",  # noqa: S608
                       [values])]
    else:
        row = f"({', '.join(['%s'] * len(fields))})"
        size = max(connection.ops.bulk_batch_size(fields, rows), 1)
        statements = [(head + "VALUES " + ", ".join([row] * len(rows[start:start + size])) + tail,
                       [value for values in zip(*(c[start:start + size] for c in columns), strict=True)
                        for value in values])
                      for start in range(0, len(rows), size)]
    inserted = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            if returning:
                inserted.extend(cursor.fetchall())
    return inserted


def any_of(column: str, values: list, connection) -> tuple[str, list]:
    """(`column = ANY(%s)`, [values]) on PostgreSQL: one array parameter, so the statement stays short and psycopg
    parses it once; (`column IN (%s, …)`, values) elsewhere. For plain-SQL lookups of a page of keys (issue 19:
    an ORM `__in` of 500 keys cost more to build and parse than to run)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values)) or 'NULL'})", list(values)


def known_empty(instance, name: str) -> None:
    """Mark the reverse relation `name` of `instance` as read and empty, as `prefetch_related` leaves a relation it
    read: `instance.<name>.all()` is then an evaluated empty QuerySet. An unevaluated `.none()` in its place would
    still be compiled by the ORM each time it is iterated (~0.5 ms: every column of the model, before the empty
    WHERE gives up)."""
    queryset = instance._meta.get_field(name).related_model._default_manager.none()
    queryset._result_cache, queryset._prefetch_done = [], True  # what prefetch_related sets on what it read
    instance._prefetched_objects_cache = {**getattr(instance, "_prefetched_objects_cache", {}), name: queryset}
