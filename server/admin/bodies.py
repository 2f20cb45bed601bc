"""The admin API's request bodies and queries (msgspec, lenient like Cisco's clients: an
operation names its body type in its route and gets it decoded, bounded and typed)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from shared.errors import BadRequest
from shared.limits import Days, Int64, PageLimit, PageOffset, SignedCount, Text

#: A name or code the operation looks up (what is not found is refused by the lookup).
Short = Annotated[str, msgspec.Meta(max_length=256)]
#: A code a product instance printed (a reservation request code, a return code).
Code = Annotated[str, msgspec.Meta(max_length=8192)]
#: The items of one batch.
Items = msgspec.Meta(max_length=1000)


class Sudi(msgspec.Struct):
    udiPid: Short = ""
    udiSerialNumber: Short = ""

    def key(self) -> tuple[str, str]:
        if not self.udiPid or not self.udiSerialNumber:
            raise BadRequest(
                "the sudi needs udiPid and udiSerialNumber",
                code="sudi_incomplete",
                fix='send "sudi": {"udiPid": ..., "udiSerialNumber": ...}',
            )
        return self.udiPid, self.udiSerialNumber


class LicenseWant(msgspec.Struct):
    entitlementTag: Short
    quantity: SignedCount
    precedence: Short = "LONGEST_TERM_FIRST"


class ReservationRequest(msgspec.Struct):
    reservationCode: Code
    reservationType: Short = "SPECIFIC"
    licenses: Annotated[list[LicenseWant], Items] = []


class ReserveBody(msgspec.Struct):
    reservationRequests: Annotated[list[ReservationRequest], Items]


class UpdateItem(msgspec.Struct):
    sudi: Sudi
    licenses: Annotated[list[LicenseWant], Items]
    productTagName: Short = ""


class UpdateBody(msgspec.Struct):
    reservationUpdateRequests: Annotated[list[UpdateItem], Items]


class ConfirmItem(msgspec.Struct):
    sudi: Sudi
    confirmationCode: Code
    productTagName: Short = ""


class ConfirmBody(msgspec.Struct):
    reservationConfirmationRequests: Annotated[list[ConfirmItem], Items]


class RemoveItem(msgspec.Struct):
    sudi: Sudi
    returnCode: Code = ""
    productTagName: Short = ""


class RemoveBody(msgspec.Struct):
    # Both spellings are in use: "Instaces" (Cisco's spec and EZ scripts) and "Instances".
    productInstacesRemoveRequests: Annotated[list[RemoveItem], Items] = []
    productInstancesRemoveRequests: Annotated[list[RemoveItem], Items] = []

    def items(self) -> list[RemoveItem]:
        found = [*self.productInstacesRemoveRequests, *self.productInstancesRemoveRequests]
        if not found:
            raise BadRequest(
                "the body lists no product instance to remove",
                code="invalid_body",
                fix='send {"productInstancesRemoveRequests": [{"sudi": {...}, "returnCode": ...}]}',
            )
        return found


class TransferItem(msgspec.Struct):
    license: Short
    quantity: SignedCount
    targetVirtualAccount: Short
    licenseType: Short = ""
    precedence: Short = "LONGEST_TERM_FIRST"
    subsriptionId: Short = ""
    subscriptionId: Short = ""


class TransferBody(msgspec.Struct):
    licenses: Annotated[list[TransferItem], Items]


class TokenBody(msgspec.Struct):
    description: Text = ""
    expiresAfterDays: Days = 30
    exportControlled: Short | bool = "Not Allowed"

    def export_allowed(self) -> bool:
        value = self.exportControlled
        if isinstance(value, bool):
            return value
        v = value.strip().lower()
        if v in ("allowed", "true", "yes"):
            return True
        if v in ("not allowed", "false", "no", ""):
            return False
        raise BadRequest(
            f"exportControlled {value!r} is neither 'Allowed' nor 'Not Allowed'",
            code="invalid_body",
            fix='send "exportControlled": "Allowed" or "Not Allowed"',
        )


class VaQuery(msgspec.Struct, kw_only=True):
    """The v2 and v3 ``accounts/{domain}/...`` operations name their virtual account in the query."""

    virtualAccountName: Short


class AccountSearch(msgspec.Struct, kw_only=True):
    domain: Short = ""
    name: Short = ""
    #: Cisco caps the page at 1000 whatever is asked (0, negative or more): only its size is bounded here.
    limit: Int64 = 1000
    offset: PageOffset = 0


class DeviceSearch(msgspec.Struct, kw_only=True):
    instanceName: Short = ""
    limit: PageLimit = 0
    offset: PageOffset = 0


class DeviceSearchV2(DeviceSearch, kw_only=True):
    virtualAccountName: Short


class DefaultVaQuery(msgspec.Struct, kw_only=True):
    smartAccountDomain: Short | None = None


class ListBody(msgspec.Struct):
    virtualAccounts: Annotated[list[Short], Items] = []
    limit: PageLimit = 50
    offset: PageOffset = 0


class RevokeBody(msgspec.Struct):
    tokens: Annotated[list[Code], Items]


class DeviceTransferItem(msgspec.Struct):
    sudi: Sudi
    targetVirtualAccount: Short
    productTagName: Short = ""
    sourceVirtualAccount: Short = ""


class DeviceTransferBody(msgspec.Struct):
    productInstances: Annotated[list[DeviceTransferItem], Items]


class DeviceRemoveV1(msgspec.Struct):
    sudi: Sudi
    productTagName: Short = ""
