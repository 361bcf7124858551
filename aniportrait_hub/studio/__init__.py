"""The demo app's engine and page. :mod:`.engine` (:class:`Studio`): every action of the browser
app as a plain, typed method over one loaded model, so the page, its named API endpoints, the MCP
tools and the tests run the same code; :mod:`.inputs` (ranges, :class:`Pose`,
:class:`StudioConfig`, :class:`StudioError`); :mod:`.live` (webcam driving). The Gradio page
itself is :mod:`.page` (a function per tab, a shared person picker) with the named endpoints in
:mod:`.api` and the body explorer in :mod:`.body_explorer`; only those import Gradio, and this
package's top imports none of them.

May import: ``body``, ``pipelines``, ``inversion``, ``tracking``, ``export``, ``commands`` (the Drive
tab runs the drive command's ``run``: the app sits beside the commands, over the library) and the
top-level ``video`` and ``provenance``; nothing in the library imports it but ``evaluation`` (the app's latency).
"""

from aniportrait_hub.studio.engine import Studio
from aniportrait_hub.studio.inputs import MAIN_UNITS, RANGES, STILL_CODECS, Pose, StudioConfig, StudioError
from aniportrait_hub.studio.live import LiveSession

__all__ = ["MAIN_UNITS", "RANGES", "STILL_CODECS", "LiveSession", "Pose", "Studio", "StudioConfig", "StudioError"]
