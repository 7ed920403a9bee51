"""The shop's core records: catalogue, customers, orders, ratings and stock.

Every write goes through ``shop.services``; the constraints here are the last
line of defence when a service has a bug, not the first.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

CATEGORY_SEPARATOR = " > "


def category_path(text: str) -> str:
    """A category path in its stored form: parts split on ">", trimmed, blanks dropped ("Home>Kitchen " is
    "Home > Kitchen")."""
    return CATEGORY_SEPARATOR.join(part.strip() for part in text.split(">") if part.strip())


def category_ancestors(path: str) -> list[str]:
    """The path's ancestors, root first ("Home > Kitchen > Knives": "Home", "Home > Kitchen")."""
    parts = path.split(CATEGORY_SEPARATOR)
    return [CATEGORY_SEPARATOR.join(parts[:depth]) for depth in range(1, len(parts))]


class Category(models.Model):
    """A group of products, used for browsing, content similarity and service-level defaults.

    Categories form a tree: ``name`` is the whole path from the root ("Home > Kitchen"), so it stays
    unique across branches ("Christmas > Candles" beside "Home > Candles"), and ``parent`` is the
    category one level up ("Home"). A filter or a service level on a category covers its sub-categories.
    """

    name = models.CharField(
        max_length=120, unique=True, help_text='The path from the root, e.g. "Home > Kitchen".'
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    @property
    def leaf(self) -> str:
        """The last part of the path ("Kitchen" for "Home > Kitchen")."""
        return self.name.rsplit(CATEGORY_SEPARATOR, 1)[-1]


class ProductQuerySet(models.QuerySet["Product"]):
    def active(self) -> ProductQuerySet:
        return self.filter(active=True)

    def in_stock(self) -> ProductQuerySet:
        """Products with at least one unit that is on hand and not reserved."""
        return self.filter(stock__on_hand__gt=F("stock__reserved"))

    def sellable(self) -> ProductQuerySet:
        return self.active().in_stock()


class Product(models.Model):
    """Something the shop sells, identified by its stock-keeping unit (SKU)."""

    sku = models.CharField("SKU", max_length=32, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    price = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    active = models.BooleanField(default=True, help_text="Inactive products are never sold nor recommended.")
    created_at = models.DateTimeField(default=timezone.now)
    # Stored, not aggregated per request: ordering the catalogue by popularity must not sum every
    # order line of the shop on each page view. Refreshed by services.product_popularity_refresh().
    units_sold = models.PositiveIntegerField(
        default=0,
        db_index=True,
        help_text="Units on orders that were paid, net of cancellations and returns.",
    )

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_non_negative")]
        # The admin list's "active" filter in its default order.
        indexes = [models.Index(fields=["active", "sku"], name="product_active_sku_idx")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Customer(models.Model):
    """A buyer, known by the id of the system that created it (the shop frontend or an import).

    A guest (an order by email, without an account) is a customer with no ``user`` and an ``email``:
    the only place a guest's email is stored, so erasing the customer erases it.
    """

    external_id = models.CharField(max_length=64, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    email = models.EmailField(
        blank=True, help_text="A guest's email (lower case); customers with a login keep theirs on the login."
    )
    country = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["external_id"]
        # The admin list filters by country (and lists its values).
        indexes = [models.Index(fields=["country", "external_id"], name="customer_country_idx")]
        constraints = [
            # One guest customer per email, so two concurrent guest orders cannot create two.
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(user__isnull=True) & ~Q(email=""),
                name="customer_one_guest_per_email",
            )
        ]

    def __str__(self) -> str:
        return self.external_id


class OrderQuerySet(models.QuerySet["Order"]):
    def was_paid(self) -> OrderQuerySet:
        """Orders that were paid, whatever happened next: demand and training data."""
        return self.filter(paid_orders_q())

    def to_ship(self) -> OrderQuerySet:
        """Paid orders with units still to ship, oldest payment first: the warehouse's queue."""
        return self.filter(status__in=Order.TO_SHIP_STATUSES).order_by(
            F("paid_at").asc(nulls_first=True), "placed_at", "pk"
        )


class Order(models.Model):
    """A customer's purchase, from placement to the last shipment (``shop.order_states`` has the rules).

    placed (stock reserved, awaiting payment; lapses at ``expires_at``) -> paid (never lapses) ->
    partly shipped -> fulfilled, or cancelled. An order holds a reservation for every unit not yet
    shipped while it is placed, paid or partly shipped.
    """

    class Status(models.TextChoices):
        PLACED = "placed", "Placed (awaiting payment)"
        PAID = "paid", "Paid"
        PARTLY_SHIPPED = "partly_shipped", "Partly shipped"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled"

    #: Statuses whose unshipped units are reserved in stock.
    RESERVING_STATUSES = (Status.PLACED, Status.PAID, Status.PARTLY_SHIPPED)
    #: Statuses of the "to ship" queue.
    TO_SHIP_STATUSES = (Status.PAID, Status.PARTLY_SHIPPED)

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    placed_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED, db_index=True)
    country = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A placed order still unpaid at this time is cancelled and its reservation released; "
        "empty: never (paid orders, and orders from before reservations expired).",
    )
    paid_at = models.DateTimeField(
        null=True, blank=True, help_text="When the order was paid (imported orders: when they were placed)."
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            # The expiry sweep reads only open orders by deadline.
            models.Index(fields=["expires_at"], condition=Q(status="placed"), name="order_open_expiry_idx"),
            # The admin list: its default order, and each filter with that order, read from an index.
            models.Index(fields=["-placed_at", "-id"], name="order_placed_desc_idx"),
            models.Index(fields=["status", "-placed_at", "-id"], name="order_status_placed_idx"),
            models.Index(fields=["country", "-placed_at", "-id"], name="order_country_placed_idx"),
        ]

    def __str__(self) -> str:
        return self.number


def paid_orders_q(prefix: str = "") -> Q:
    """Orders that were paid: ``paid_orders_q("order__")`` filters their lines.

    ``paid_at`` is set by every payment (imports and the data migration set it to ``placed_at``);
    the statuses also cover rows written without it. A paid order cancelled later still matches
    (its cancellation rows net it out of demand); lapsed and unpaid cancelled orders never do.
    """
    statuses = [Order.Status.PAID, Order.Status.PARTLY_SHIPPED, Order.Status.FULFILLED]
    return Q(**{f"{prefix}paid_at__isnull": False}) | Q(**{f"{prefix}status__in": statuses})


class IdempotencyKey(models.Model):
    """A customer's ``Idempotency-Key`` and the answer its first request got (Stripe's semantics).

    The unique constraint, not a look-up before the insert, is what makes two concurrent requests
    with one key place a single order: the second insert waits for the first transaction and fails.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the request body, canonical JSON.")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "key"], name="idempotencykey_unique_per_customer")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.key}"


class OrderLineQuerySet(models.QuerySet["OrderLine"]):
    def of_paid_orders(self) -> OrderLineQuerySet:
        """Lines of orders that were paid: what demand and training data count."""
        return self.filter(paid_orders_q("order__"))


class OrderLine(models.Model):
    """One product on an order.

    ``(order, product, quantity, unit_price, occurrence)`` is the natural key that keeps imports
    idempotent whatever part of an invoice a file holds: ``occurrence`` numbers identical lines
    (1, 2, ...), so an invoice that lists the same product at the same price twice keeps both.
    ``line_number`` is the line's place on the order (for imports, its rank in content order).
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField()
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    occurrence = models.PositiveIntegerField(default=1)

    objects = OrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["order", "line_number"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_price_non_negative"),
            models.UniqueConstraint(fields=["order", "line_number"], name="orderline_unique_number"),
            models.UniqueConstraint(
                fields=["order", "product", "quantity", "unit_price", "occurrence"],
                name="orderline_unique_content",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}/{self.line_number}: {self.quantity} x {self.product.sku}"


class Cancellation(models.Model):
    """Units taken back after a sale: a cancellation before dispatch or a return after it.

    Demand per product per day is units ordered minus units cancelled on that day,
    so each row keeps its own time, product and customer. ``order_line`` links to
    what it cancels when that is known (an import may see a cancellation whose
    original sale predates the data). Its natural key is (reference, product, quantity,
    unit_price, occurrence), as for order lines.
    """

    class Kind(models.TextChoices):
        CANCELLATION = "cancellation", "Cancellation"
        RETURN = "return", "Return"

    reference = models.CharField(max_length=32, help_text="The cancelling document, e.g. invoice C536379.")
    line_number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CANCELLATION)
    order_line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.SET_NULL, related_name="cancellations"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="cancellations")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="cancellations"
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    occurrence = models.PositiveIntegerField(default=1)  # as OrderLine.occurrence, within the reference

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cancellation_quantity_positive"),
            models.UniqueConstraint(fields=["reference", "line_number"], name="cancellation_unique_line"),
            models.UniqueConstraint(
                fields=["reference", "product", "quantity", "unit_price", "occurrence"],
                name="cancellation_unique_content",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference}/{self.line_number}: -{self.quantity:,} x {self.product}"


class Payment(models.Model):
    """Money received for an order: from the payment provider's webhook or recorded by staff."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code.")
    reference = models.CharField(
        max_length=255,
        blank=True,
        help_text="The provider's event id, or what staff wrote (a bank reference).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_non_negative")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.amount} {self.currency}"


class Refund(models.Model):
    """Money given back on an order: on cancelling a paid order, on a return, or reported by the provider.

    A refund the shop records (cancellation, return) has no ``provider_reference`` until the provider's
    ``payment.refunded`` event for the same amount confirms it; an event matching none is a new refund.
    """

    class Reason(models.TextChoices):
        CANCELLATION = "cancellation", "Paid order cancelled"
        RETURN = "return", "Return"
        PROVIDER = "provider", "Refunded at the payment provider"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    order_return = models.OneToOneField(
        "OrderReturn", null=True, blank=True, on_delete=models.PROTECT, related_name="refund"
    )
    provider_reference = models.CharField(max_length=255, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the provider reported it.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"{self.order_id}: -{self.amount} {self.currency} ({self.reason})"


class PaymentEvent(models.Model):
    """A payment provider's webhook event that took effect, kept so a redelivery takes none.

    The unique ``event_id`` is inserted in the transaction that applies the event: a second delivery,
    even a concurrent one, fails the insert and changes nothing. An event refused (wrong amount...)
    rolls back with its effect, so it is not stored and a redelivery is refused again.
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=64)
    order = models.ForeignKey(Order, null=True, on_delete=models.PROTECT, related_name="payment_events")
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"


class Shipment(models.Model):
    """Units of a paid order leaving the warehouse together; each line moves on-hand through the ledger."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    sequence = models.PositiveIntegerField(help_text="1 for the order's first shipment, 2 for the next...")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["order", "sequence"]
        constraints = [models.UniqueConstraint(fields=["order", "sequence"], name="shipment_unique_sequence")]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"{self.order.number}/S{self.sequence}"


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="shipment_lines")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["shipment", "order_line"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipmentline_quantity_positive"),
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="shipmentline_one_per_order_line"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.quantity} x line {self.order_line_id}"


class OrderReturn(models.Model):
    """Shipped units of an order line coming back, with why, and whether they went back into stock.

    Restocked units add to on-hand through the ledger (reason "return"); written-off units do not.
    Either way the units leave demand (a ``Cancellation`` row of kind "return").
    """

    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="returns")
    quantity = models.PositiveIntegerField()
    restock = models.BooleanField(help_text="Back into sellable stock; otherwise written off.")
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderreturn_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"return {self.pk}: {self.quantity} x line {self.order_line_id}"


class OrderToShip(Order):
    """The "to ship" queue in the admin: paid orders with units still to ship, oldest first."""

    class Meta:
        proxy = True
        verbose_name = "order to ship"
        verbose_name_plural = "orders to ship"


class Rating(models.Model):
    """A customer's star rating of a product, 0.5 to 5 in half stars."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ratings")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="ratings")
    stars = models.DecimalField(
        max_digits=2,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("5"))],
    )
    rated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-rated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "product"], name="rating_one_per_customer_product"),
            models.CheckConstraint(condition=Q(stars__gte=0.5) & Q(stars__lte=5), name="rating_stars_range"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} rated {self.product}: {self.stars}"


class StockRecord(models.Model):
    """Units of a product in the warehouse. ``reserved`` units belong to placed, unfulfilled orders."""

    # PROTECT: a product with stock is deactivated, never deleted (``product_delete`` says so).
    product = models.OneToOneField(Product, on_delete=models.PROTECT, related_name="stock")
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product"]
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_non_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_non_negative"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.on_hand:,} on hand, {self.reserved:,} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(models.Model):
    """The ledger of on-hand stock: every change is a row, so the sum of ``quantity`` equals ``on_hand``."""

    class Reason(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        FULFILMENT = "fulfilment", "Fulfilment"
        ADJUSTMENT = "adjustment", "Adjustment"
        RETURN = "return", "Return to stock"
        STOCKTAKE = "stocktake", "Stocktake"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_movements")
    quantity = models.IntegerField(help_text="Signed change to units on hand.")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    reference = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(quantity=0), name="stockmovement_non_zero")]

    def __str__(self) -> str:
        return f"{self.product} {self.quantity:+,d} ({self.get_reason_display().lower()})"


class ProductEvent(models.Model):
    """A storefront signal: a product view or a cart addition or removal, stored for later trainings.

    Written in bulk by ``shop.services.product_events_record``; a row belongs to a customer or, for an
    anonymous visitor, to the frontend's session id (never both empty).
    """

    class Kind(models.TextChoices):
        VIEW = "view", "Product view"
        CART_ADD = "cart_add", "Added to cart"
        CART_REMOVE = "cart_remove", "Removed from cart"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="events")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="product_events"
    )
    session_id = models.CharField(max_length=64, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["product", "kind", "occurred_at"], name="productevent_product_kind")]
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False) | ~Q(session_id=""), name="productevent_has_actor"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="productevent_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id} by {self.customer_id or self.session_id}"
