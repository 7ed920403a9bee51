"""Documents a buyer sends or keeps: a purchase order as a printable page and an XLSX file, and XLSX tables.

The attachment is XLSX, written with openpyxl (already a dependency for imports): a supplier can
read it in any spreadsheet and import its lines, and no PDF library is needed; the HTML page
prints to PDF from the browser. openpyxl is imported only when a file is written.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string

from shop import formats

from .models import PurchaseOrder

#: Number formats of XLSX cells, by the kind of column.
XLSX_FORMATS = {"units": "#,##0", "money": "#,##0.00", "number": "#,##0.00", "date": "d mmm yyyy"}


@dataclass(frozen=True)
class DocumentLine:
    sku: str
    name: str
    quantity: int
    unit_cost: Decimal
    value: Decimal


@dataclass(frozen=True)
class PurchaseOrderDocument:
    reference: str
    shop_name: str
    supplier_name: str
    supplier_email: str
    lead_time_days: int
    status: str
    created_at: datetime
    sent_at: datetime | None
    expected: date
    note: str
    currency: str
    lines: list[DocumentLine]
    total_units: int
    total_value: Decimal

    @property
    def filename(self) -> str:
        return f"{self.reference}.xlsx"


def purchase_order_document(*, order: PurchaseOrder) -> PurchaseOrderDocument:
    """What the document says, read in two queries: header, then every line by SKU."""
    order = PurchaseOrder.objects.select_related("supplier").get(pk=order.pk)
    lines = [
        DocumentLine(
            sku=line.product.sku,
            name=line.product.name,
            quantity=line.quantity,
            unit_cost=line.unit_cost,
            value=(line.unit_cost * line.quantity).quantize(Decimal("0.01")),
        )
        for line in order.lines.select_related("product").order_by("product__sku")
    ]
    start = order.sent_at or order.created_at
    return PurchaseOrderDocument(
        reference=order.reference,
        shop_name=str(settings.INVENTORY["SHOP_NAME"]),
        supplier_name=order.supplier.name,
        supplier_email=order.supplier.email,
        lead_time_days=order.supplier.lead_time_days,
        status=order.get_status_display(),
        created_at=order.created_at,
        sent_at=order.sent_at,
        expected=(start + timedelta(days=order.supplier.lead_time_days)).date(),
        note=order.note,
        currency=formats.currency(),
        lines=lines,
        total_units=sum(line.quantity for line in lines),
        total_value=sum((line.value for line in lines), Decimal(0)),
    )


def purchase_order_html(document: PurchaseOrderDocument, *, standalone: bool = True) -> str:
    """The printable page (also the email's HTML part)."""
    return render_to_string(
        "inventory/purchase_order_document.html", {"doc": document, "standalone": standalone}
    )


def purchase_order_text(document: PurchaseOrderDocument) -> str:
    """The email's plain-text part: the header, every line and the totals."""
    rows = [
        f"{line.sku:<12} {line.quantity:>10,} x {formats.money(line.unit_cost):>12} = "
        f"{formats.money(line.value):>14}  {line.name}"
        for line in document.lines
    ]
    return "\n".join(
        [
            f"Purchase order {document.reference} from {document.shop_name}",
            f"To: {document.supplier_name}",
            f"Date: {formats.day(document.sent_at or document.created_at)}; "
            f"expected by {formats.day(document.expected)} ({document.lead_time_days} days).",
            *([f"Note: {document.note}"] if document.note else []),
            "",
            *rows,
            "",
            f"{len(document.lines):,} lines, {document.total_units:,} units, "
            f"total {formats.money(document.total_value, code=True)}.",
            f"The lines are attached as {document.filename}.",
        ]
    )


def table_xlsx(
    *,
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence],
    kinds: Sequence[str | None] = (),
    preamble: Sequence[Sequence] = (),
    footer: Sequence[Sequence] = (),
) -> bytes:
    """One sheet: optional preamble rows, a bold header, the rows, optional footer rows.

    ``kinds`` names each column's kind ("units", "money", "number", "date" or None) so numbers
    stay numbers in the file, shown with separators. Written in openpyxl's write-only mode, so a
    whole worklist costs little memory.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    bold = Font(bold=True)

    def cells(values: Sequence, *, strong: bool = False, typed: bool = True) -> list:
        out = []
        for index, value in enumerate(values):
            cell = WriteOnlyCell(sheet, value=value)
            kind = kinds[index] if typed and index < len(kinds) else None
            if kind and isinstance(value, int | float | Decimal | date):
                cell.number_format = XLSX_FORMATS[kind]
            if strong:
                cell.font = bold
            out.append(cell)
        return out

    for row in preamble:
        sheet.append(cells(row, typed=False))
    sheet.append(cells(header, strong=True, typed=False))
    for row in rows:
        sheet.append(cells(row))
    for row in footer:
        sheet.append(cells(row, strong=True))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def purchase_order_xlsx(document: PurchaseOrderDocument) -> bytes:
    """The attachment: who and when above, then SKU, product, quantity, unit cost and value, and totals."""
    cur = document.currency
    return table_xlsx(
        title=document.reference,
        preamble=[
            [f"Purchase order {document.reference}", document.shop_name],
            ["Supplier", document.supplier_name],
            ["Date", formats.day(document.sent_at or document.created_at)],
            ["Expected by", formats.day(document.expected)],
            ["Currency", cur],
            *([["Note", document.note]] if document.note else []),
            [],
        ],
        header=["SKU", "product", "quantity", f"unit cost ({cur})", f"value ({cur})"],
        kinds=[None, None, "units", "money", "money"],
        rows=([line.sku, line.name, line.quantity, line.unit_cost, line.value] for line in document.lines),
        footer=[
            ["Total", f"{len(document.lines):,} lines", document.total_units, None, document.total_value]
        ],
    )
