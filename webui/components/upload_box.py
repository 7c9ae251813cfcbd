"""The CSV drop zone: one clickable, droppable box that says what it takes, then the upload.

Quasar's uploader header would show "0.0B / 0.00%" before any file is chosen; this box
replaces it with what to do and the size limit, and with the file and its progress once
the upload runs. The header slot is a Vue template, so a click opens the file picker in
the browser at once (a round trip to the server would lose the user's gesture).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from nicegui.events import UploadEventArguments

from webui.components.formatting import byte_size
from webui.components.marks import testid

_IDLE_LABEL = "Drop a CSV here or click to choose — up to {limit}"
_HEADER = """
<div v-if="!props.isUploading" class="relative-position full-width column items-center
     justify-center q-pa-lg cursor-pointer hpp-drop-zone" data-testid="batch-upload-idle"
     role="button" tabindex="0" @keydown.enter.space.prevent="props.pickFiles">
  <q-icon name="upload_file" size="md" />
  <div class="text-subtitle1 text-weight-medium" data-testid="batch-upload-label">{label}</div>
  <q-uploader-add-trigger />
</div>
<div v-else class="full-width q-pa-md" data-testid="batch-upload-busy">
  <div class="row no-wrap items-center q-gutter-sm">
    <q-spinner size="sm" />
    <div class="col ellipsis">Uploading {{{{ props.files.map(f => f.name).join(', ') }}}}</div>
    <div>{{{{ props.uploadProgressLabel }}}} of {{{{ props.uploadSizeLabel }}}}</div>
  </div>
  <q-linear-progress :value="props.uploadProgress" class="q-mt-sm" rounded size="8px" />
</div>
"""

# The file list is not needed: the header shows the one file while it uploads.
_CSS = """
.hpp-upload .q-uploader__list { display: none }
.hpp-upload .hpp-drop-zone { border: 2px dashed currentColor; border-radius: 6px; margin: 4px }
.hpp-upload .hpp-drop-zone:hover { background: rgba(29, 78, 216, 0.06) }
"""


def upload_box(
    *,
    limit: int,
    on_upload: Callable[[UploadEventArguments], Awaitable[None]],
    on_rejected: Callable[[], None],
) -> ui.upload:
    """A one-file CSV upload (auto-started) up to ``limit`` bytes, marked ``batch-upload``."""
    upload = (
        ui.upload(
            label=idle_label(limit),  # drawn by the header below; kept for tests and tools
            auto_upload=True,
            max_file_size=limit,
            on_upload=on_upload,
            on_rejected=on_rejected,
        )
        .props('accept=".csv,text/csv" flat bordered color=blue-1 text-color=blue-10')
        .classes("w-full hpp-upload")
        .mark("batch-upload")
        .props(testid("batch-upload"))
    )
    upload.add_slot("header", _HEADER.format(label=idle_label(limit)))
    upload.add_slot("list", "<div></div>")
    ui.add_css(_CSS)
    return upload


def idle_label(limit: int) -> str:
    """What the box says before a file is chosen."""
    return _IDLE_LABEL.format(limit=byte_size(limit))
