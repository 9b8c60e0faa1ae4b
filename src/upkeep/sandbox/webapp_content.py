"""What the sandbox web app serves: the catalogue, its HTML pages and its images.

Kept apart from the server (webapp.py) so the site can grow without touching the HTTP code.
Some things are broken on purpose, for the crawl checks to find: the products page links to
``/old-catalogue`` (404) and the home page shows ``/images/missing-hero.jpg`` (404).
"""

from __future__ import annotations

import html
import struct
import zlib

CATEGORIES = (
    ("building-materials", "Building Materials"),
    ("steel-metals", "Steel & Metals"),
    ("electrical", "Electrical Supplies"),
    ("plumbing", "Plumbing & Sanitary"),
)

# slug, name, category slug, availability
PRODUCTS = (
    ("portland-cement-50kg", "Portland Cement 50 kg", "building-materials", "in stock"),
    ("hollow-blocks-20cm", "Hollow Concrete Blocks 20 cm", "building-materials", "in stock"),
    ("rebar-16mm", "Deformed Steel Rebar 16 mm", "steel-metals", "limited"),
    ("gi-sheet-0-5mm", "Galvanised Iron Sheet 0.5 mm", "steel-metals", "in stock"),
    ("copper-cable-4mm", "Copper Cable 4 mm\u00b2", "electrical", "on order"),
    ("led-panel-60x60", "LED Panel 60x60 40 W", "electrical", "in stock"),
    ("ppr-pipe-25mm", "PPR Pipe 25 mm", "plumbing", "in stock"),
    ("water-heater-50l", "Water Heater 50 L", "plumbing", "limited"),
)

TESTIMONIALS = (
    ("Khalid R., contractor", "Reliable deliveries to site, every time."),
    ("Sara M., project manager", "Clear quotes and quick answers on WhatsApp."),
)

REDIRECTS = {"/catalogue": "/products", "/home": "/"}


def _png(width: int, height: int, rgb) -> bytes:
    """A real solid-colour PNG (truecolour, 8 bits per channel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def _grey_jpeg() -> bytes:
    """A real 8x8 baseline JPEG of one grey level (value 200).

    One block whose only coefficient is DC = 8 * (200 - 128) = 576 (quantiser 1), coded with a
    one-symbol DC table (category 10, code "0") and a one-symbol AC table (end of block, code "0").
    """
    quant = b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    frame = b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    counts_one_code = b"\x01" + b"\x00" * 15
    dc_table = b"\xff\xc4\x00\x14\x00" + counts_one_code + b"\x0a"
    ac_table = b"\xff\xc4\x00\x14\x10" + counts_one_code + b"\x00"
    scan_header = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    # bits: DC code 0, 576 in 10 bits (1001000000), EOB code 0, padded with ones
    scan = bytes([0b01001000, 0b00001111])
    jfif = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + jfif + quant + frame + dc_table + ac_table + scan_header + scan + b"\xff\xd9"


IMAGES = {
    "/images/logo.png": ("image/png", _png(48, 16, (0x1f, 0x4e, 0x79))),
    "/images/hero.jpg": ("image/jpeg", _grey_jpeg()),
}
IMAGES.update({"/images/products/%s.png" % slug: ("image/png", _png(32, 32, (0x8a, 0x6d, 0x3b)))
               for slug, _, _, _ in PRODUCTS})


def product_list():
    return [{"slug": slug, "name": name, "category": category, "availability": availability}
            for slug, name, category, availability in PRODUCTS]


def _layout(title: str, body: str) -> str:
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%s | Al Mazahir Trading</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><header><a href="/"><img src="/images/logo.png" alt="Al Mazahir Trading" width="48" height="16"></a>
<nav><a href="/">Home</a> <a href="/products">Products</a> <a href="/about">About</a> <a href="/contact">Contact</a></nav>
</header><main>
%s
</main><footer><p>&copy; Al Mazahir Trading. Building materials since 1998.</p></footer></body></html>
""" % (html.escape(title), body)


def _home() -> str:
    categories = "".join('<li><a href="/products#%s">%s</a></li>' % (slug, html.escape(name))
                         for slug, name in CATEGORIES)
    quotes = "".join("<blockquote>%s<cite>%s</cite></blockquote>" % (html.escape(text), html.escape(who))
                     for who, text in TESTIMONIALS)
    return _layout("Home", """<img src="/images/hero.jpg" alt="Our warehouse" width="8" height="8">
<img src="/images/missing-hero.jpg" alt="Seasonal offers">
<h1>Building materials, delivered</h1><ul>%s</ul><section><h2>What customers say</h2>%s</section>""" % (
        categories, quotes))


def _products() -> str:
    items = "".join(
        '<li id="%s"><a href="/products/%s"><img src="/images/products/%s.png" alt="" width="32" height="32">'
        "%s</a> <small>%s</small></li>" % (category, slug, slug, html.escape(name), availability)
        for slug, name, category, availability in PRODUCTS)
    return _layout("Products", '<h1>Products</h1><ul>%s</ul><p><a href="/old-catalogue">Download the 2019 '
                   "catalogue</a></p>" % items)


def _product(slug: str):
    for item_slug, name, category, availability in PRODUCTS:
        if item_slug == slug:
            return _layout(name, '<h1>%s</h1><img src="/images/products/%s.png" alt="%s" width="32" height="32">'
                           "<p>Category: %s. Availability: %s.</p><p><a href=\"/contact\">Request a quote</a></p>"
                           % (html.escape(name), slug, html.escape(name), category, availability))
    return None


def page(path: str):
    """The HTML of ``path``, or None when there is no such page."""
    if path in ("/", "/index.html"):
        return _home()
    if path == "/products":
        return _products()
    if path.startswith("/products/"):
        return _product(path[len("/products/"):])
    if path == "/about":
        return _layout("About", "<h1>About us</h1><p>A family trading company supplying contractors across the "
                       'region.</p><p><a href="/contact">Talk to us</a></p>')
    if path == "/contact":
        return _layout("Contact", '<h1>Contact</h1><form method="post" action="/api/leads"><input name="name">'
                       '<input name="phone"><textarea name="message"></textarea><button>Send</button></form>'
                       '<p><a href="/about">Opening hours</a></p>')
    return None


def not_found(path: str) -> str:
    return _layout("Not found", "<h1>404</h1><p>No page at %s.</p>" % html.escape(path))
