"""Reading contact CSV files: encoding, delimiter, header mapping, and one row at a time.

Files are read as a stream of byte chunks and never held whole. `inspect_file` decides how to
read a file (or refuses it with one clear `ImportFileError`); `iter_identity_keys` is a quick
pass for duplicates, and `iter_rows` yields every data row, parsed and validated into a
`ContactInput` or rejected with a reason.

Encodings: UTF-8 (with or without a byte-order mark) is expected. A file with no valid UTF-8
multi-byte sequence but with other high bytes is read as Windows-1252 (Latin-1 when it uses bytes
Windows-1252 leaves undefined), which is what spreadsheet exports on Windows produce. A UTF-8 file
with a few undecodable rows (pasted from elsewhere) keeps its good rows; the bad ones are rejected
as an encoding problem.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from contacts import validation
from contacts.errors import ContactError
from contacts.models import ConsentAction, ConsentScope, ConsentSource, ContactImport
from contacts.upserting import ConsentInput, ContactInput

COLUMN_ALIASES = {
    "phone": {"phone", "phone_number", "mobile", "mobile_number", "msisdn", "whatsapp", "wa_id"},
    "name": {"name", "full_name", "contact_name"},
    "first_name": {"first_name", "given_name"},
    "last_name": {"last_name", "surname", "family_name"},
    "external_id": {"external_id", "crm_id", "customer_id"},
    "language": {"language", "locale", "lang"},
    "timezone": {"timezone", "time_zone", "tz"},
    "tags": {"tags", "tag"},
    "action": {"consent_action", "action", "consent"},
    "scope": {"consent_scope", "scope"},
    "source": {"consent_source", "source"},
    "evidence": {"consent_evidence", "evidence"},
    "captured_at": {"consent_captured_at", "captured_at", "consent_date"},
    "policy_version": {"consent_policy_version", "policy_version"},
}
_COLUMN_FOR_ALIAS = {
    alias: column for column, aliases in COLUMN_ALIASES.items() for alias in aliases
}
ATTRIBUTE_PREFIX = "attr."

_DELIMITERS = (",", ";", "\t", "|")
_SURROGATES = re.compile(r"[\udc80-\udcff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f\udc80-\udcff]")
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_SIGNATURES = {
    b"PK\x03\x04": "This is an Excel workbook or another zip file, not CSV; save it as CSV UTF-8.",
    b"\xd0\xcf\x11\xe0": "This is an old Excel workbook, not CSV; save it as CSV UTF-8.",
    b"%PDF": "This is a PDF, not a CSV file.",
    b"\xff\xfe": "The file is UTF-16 text; save it as CSV UTF-8.",
    b"\xfe\xff": "The file is UTF-16 text; save it as CSV UTF-8.",
}


class ImportFileError(ContactError):
    """The whole file is refused (nothing is imported); the message says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file", code="invalid_file")


@dataclass(frozen=True)
class CsvLayout:
    encoding: str
    delimiter: str
    header: list[str]
    columns: dict[str, int]
    attribute_columns: dict[str, int]
    ignored_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedRow:
    row: int
    values: dict[str, str]
    input: ContactInput | None
    reason: str = ""
    phone: str = ""


ChunkSource = Callable[[], Iterable[bytes]]


def inspect_file(chunks: Iterable[bytes], *, header_only: bool = False) -> CsvLayout:
    """Decide the encoding and delimiter and map the header; raise `ImportFileError` if unusable.

    With `header_only`, only the first chunk is looked at (a quick check at upload time).
    """
    encoding, first_chunk = _detect_encoding(chunks, header_only=header_only)
    text = first_chunk.decode(encoding.removesuffix("+rows"), errors="replace").lstrip("\ufeff")
    first_line = text.split("\n", 1)[0].split("\r", 1)[0]
    if not text.strip() or not first_line.strip():
        raise ImportFileError("The file is empty.")
    delimiter = max(_DELIMITERS, key=lambda candidate: first_line.count(candidate))
    if first_line.count(delimiter) == 0:
        delimiter = ","
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    except (csv.Error, StopIteration):
        raise ImportFileError("The first line is not a CSV header row.") from None
    return _map_header(header, encoding, delimiter)


class PhoneBook:
    """Normalises the phones of one import, remembering each result for the second pass.

    Phone validation is the costliest step of a row, and every row is read twice; this keeps one
    entry per distinct spelling for the duration of the import.
    """

    def __init__(self, default_region: str) -> None:
        self.default_region = default_region
        self._results: dict[str, str] = {}

    def normalise(self, raw: str) -> str:
        """E.164, or raise `ContactError` with the reason."""
        result = self._results.get(raw)
        if result is None:
            try:
                result = validation.phone(raw, default_region=self.default_region)
            except ContactError as error:
                result = "!" + error.message
            self._results[raw] = result
        if result[0] == "!":
            raise ContactError(result[1:], field="phone", code="invalid_phone")
        return result


def iter_identity_keys(
    open_chunks: ChunkSource, layout: CsvLayout, phones: PhoneBook
) -> Iterator[tuple[int, str | None, str | None]]:
    """(row, phone, external id) of every non-blank row; phone None when missing or invalid.

    The cheap first pass: enough to find duplicates and whole-file problems.
    """
    phone_index = layout.columns["phone"]
    external_id_index = layout.columns.get("external_id")
    for row, cells in _iter_cells(open_chunks, layout):
        phone = None
        raw_phone = cells[phone_index].strip() if phone_index < len(cells) else ""
        if raw_phone:
            try:
                phone = phones.normalise(raw_phone)
            except ContactError:
                phone = None
        external_id = None
        if external_id_index is not None and external_id_index < len(cells):
            external_id = cells[external_id_index].strip() or None
        yield row, phone, external_id


def iter_rows(
    open_chunks: ChunkSource, layout: CsvLayout, phones: PhoneBook
) -> Iterator[ParsedRow]:
    """Every non-blank data row, numbered as a spreadsheet shows it (the header is row 1)."""
    width = len(layout.header)
    for row, cells in _iter_cells(open_chunks, layout):
        values = {
            layout.header[index]: _printable(cells[index])
            for index in range(min(len(cells), width))
        }
        if len(cells) > width:
            reason = f"The row has {len(cells)} values but the header has {width} columns."
            yield ParsedRow(row, values, None, reason)
            continue
        if any(_SURROGATES.search(cell) for cell in cells):
            reason = "Encoding problem: the row has bytes that are not valid UTF-8."
            yield ParsedRow(row, values, None, reason)
            continue
        yield _parse_row(row, cells, values, layout, phones)


def _iter_cells(open_chunks: ChunkSource, layout: CsvLayout) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(_open_text(open_chunks(), layout.encoding), delimiter=layout.delimiter)
    try:
        next(reader)
        for row, cells in enumerate(reader, start=2):
            if any(cell.strip() for cell in cells):
                yield row, cells
    except csv.Error as error:
        raise ImportFileError(f"Row {reader.line_num} is not valid CSV: {error}.") from None


def _parse_row(
    row: int, cells: list[str], values: dict[str, str], layout: CsvLayout, phones: PhoneBook
) -> ParsedRow:
    columns = layout.columns
    count = len(cells)

    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index].strip() if index is not None and index < count else ""

    errors: list[str] = []
    phone = external_id = None
    name = language = timezone = ""
    tags: list[str] = []
    consent = None
    raw_phone = cell("phone")
    if not raw_phone:
        errors.append("Phone is missing.")
    else:
        try:
            phone = phones.normalise(raw_phone)
        except ContactError as error:
            errors.append(error.message)
    try:
        external_id = validation.external_id(cell("external_id"))
        name = cell("name") or " ".join(
            part for part in (cell("first_name"), cell("last_name")) if part
        )
        name = validation.optional_text(name, field="name", max_length=200)
    except ContactError as error:
        errors.append(error.message)
    for column in ("language", "timezone", "tags", "action"):
        raw = cell(column)
        if not raw:
            continue
        try:
            if column == "language":
                language = validation.language(raw)
            elif column == "timezone":
                timezone = validation.timezone_name(raw)
            elif column == "tags":
                tags = validation.tag_names(raw)
            else:
                consent = _consent(cell)
        except ContactError as error:
            errors.append(error.message)
    if errors:
        return ParsedRow(row, values, None, " ".join(errors), phone or "")
    attributes = {}
    for key, index in layout.attribute_columns.items():
        if index < count and (value := cells[index].strip()):
            attributes[key] = value
    contact_input = ContactInput(
        rows=[row],
        phone=phone,
        external_id=external_id,
        name=name,
        language=language,
        timezone=timezone,
        attributes=attributes,
        tags=tags,
        consents=[consent] if consent else [],
    )
    return ParsedRow(row, values, contact_input, "", phone or "")


def _consent(cell: Callable[[str], str]) -> ConsentInput:
    action = validation.consent_action(cell("action"))
    source = validation.consent_source(cell("source")) if cell("source") else ConsentSource.IMPORT
    evidence = validation.evidence(cell("evidence"))
    policy_version = validation.optional_text(
        cell("policy_version"), field="policy_version", max_length=64
    )
    if action == ConsentAction.OPT_IN:
        # An opt-in must say what it covers, when, and on what proof; an opt-out is honoured as
        # broadly as possible (all messages, as of now) when the file does not say.
        if not cell("scope"):
            raise ContactError("An opt-in needs consent_scope (marketing, utility or all).")
        if not evidence:
            raise ContactError(
                "Opt-in without evidence: put the proof (form id, URL, message id) in "
                "consent_evidence."
            )
        return ConsentInput(
            action=action,
            scope=validation.consent_scope(cell("scope")),
            source=source,
            evidence=evidence,
            captured_at=validation.captured_at(cell("captured_at")),
            policy_version=policy_version,
        )
    return ConsentInput(
        action=action,
        scope=validation.consent_scope(cell("scope")) if cell("scope") else ConsentScope.ALL,
        source=source,
        evidence=evidence,
        captured_at=validation.captured_at(cell("captured_at")) if cell("captured_at") else None,
        policy_version=policy_version,
    )


def _map_header(header: list[str], encoding: str, delimiter: str) -> CsvLayout:
    columns: dict[str, int] = {}
    attribute_columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, title in enumerate(header):
        label = title.strip().lstrip("\ufeff")
        normalised = re.sub(r"[\s\-]+", "_", label.lower())
        if normalised.startswith(ATTRIBUTE_PREFIX) and label[len(ATTRIBUTE_PREFIX) :].strip():
            key = label[len(ATTRIBUTE_PREFIX) :].strip()
            if key in attribute_columns:
                raise ImportFileError(f"Two columns are called {label!r}.")
            attribute_columns[key] = index
            continue
        column = _COLUMN_FOR_ALIAS.get(normalised)
        if column is None:
            if label:
                ignored.append(label)
            continue
        if column in columns:
            first = header[columns[column]].strip()
            raise ImportFileError(f"Columns {first!r} and {label!r} both mean {column}; keep one.")
        columns[column] = index
    if "phone" not in columns:
        found = ", ".join(repr(title.strip()) for title in header[:10] if title.strip())
        raise ImportFileError(
            "This does not look like a contacts CSV: the first line must be a header with a "
            f"'phone' column (found {found or 'nothing'})."
        )
    titles = [title.strip().lstrip("\ufeff") for title in header]
    return CsvLayout(encoding, delimiter, titles, columns, attribute_columns, ignored)


def _detect_encoding(chunks: Iterable[bytes], *, header_only: bool) -> tuple[str, bytes]:
    """The codec to read the file with (``+rows`` marks UTF-8 with some bad rows) and chunk one."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    first_chunk = b""
    invalid = valid_non_ascii = 0
    cp1252_undefined = False
    for index, chunk in enumerate(chunks):
        if index == 0:
            first_chunk = bytes(chunk)
            for signature, message in _SIGNATURES.items():
                if first_chunk.startswith(signature):
                    raise ImportFileError(message)
        if b"\x00" in chunk:
            raise ImportFileError("This is not a text file, so not CSV.")
        if not chunk.isascii():
            text = decoder.decode(bytes(chunk))
            invalid += len(_SURROGATES.findall(text))
            valid_non_ascii += len(_NON_ASCII.findall(text))
            cp1252_undefined = cp1252_undefined or any(b in chunk for b in _CP1252_UNDEFINED)
        if header_only:
            break
    has_bom = first_chunk.startswith(codecs.BOM_UTF8)
    if not invalid:
        return ("utf-8-sig" if has_bom else "utf-8"), first_chunk
    if valid_non_ascii > invalid or (has_bom and valid_non_ascii):
        return "utf-8-sig+rows", first_chunk
    return ("latin-1" if cp1252_undefined else "cp1252"), first_chunk


class _ChunkStream(io.RawIOBase):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = bytes(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _open_text(chunks: Iterable[bytes], encoding: str) -> io.TextIOWrapper:
    if encoding.endswith("+rows"):
        codec, errors = encoding.removesuffix("+rows"), "surrogateescape"
    else:
        codec, errors = encoding, "strict"
    raw = io.BufferedReader(_ChunkStream(chunks), buffer_size=1024 * 1024)
    return io.TextIOWrapper(raw, encoding=codec, errors=errors, newline="")


def _printable(value: str) -> str:
    """The cell as it can be stored and shown again: undecodable bytes become U+FFFD."""
    return _SURROGATES.sub("\ufffd", value) if _SURROGATES.search(value) else value


def encoding_label(encoding: str) -> str:
    return {
        "utf-8": "UTF-8",
        "utf-8-sig": "UTF-8 with BOM",
        "utf-8-sig+rows": "UTF-8 (some rows not)",
        "cp1252": "Windows-1252 (Latin-1)",
        "latin-1": "Latin-1",
    }.get(encoding, encoding)


class _Echo:
    def write(self, value: str) -> str:
        return value


def rejected_rows_csv(contact_import: ContactImport) -> Iterator[str]:
    """The rejected rows of an import as CSV lines: `row`, the file's own columns, `reason`.

    Streams from the database, so it can feed a `StreamingHttpResponse` for any import size.
    """
    writer = csv.writer(_Echo())
    columns = list(contact_import.header)
    yield writer.writerow(["row", *columns, "reason"])
    rows = contact_import.rejected_rows.order_by("row_number")
    for row in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [row.row_number, *(row.values.get(column, "") for column in columns), row.reason]
        )
