#include "src/hashing/jpeg_decoder.h"

// jpeglib.h needs size_t and FILE declared first.
#include <stdio.h>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace {

// Why a decode stopped early.
enum class Stop { kNone, kCorrupt, kScans, kBudget, kDeadline, kCancelled };

// Everything the libjpeg callbacks reach, through cinfo.client_data. Plain
// data only: the callbacks leave by longjmp, which must not skip a
// destructor.
struct Session {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  const JpegDecodeControl* control = nullptr;
  Stop stop = Stop::kNone;
  int scan_at_stop = 0;
  char message[JMSG_LENGTH_MAX] = {};
};

Session* SessionOf(j_common_ptr cinfo) {
  return static_cast<Session*>(cinfo->client_data);
}

[[noreturn]] void Leave(Session* s, Stop why) {
  s->stop = why;
  std::longjmp(s->jump, 1);
}

// libjpeg's fatal errors: keep the message, unwind to the setjmp.
void ErrorExit(j_common_ptr cinfo) {
  Session* s = SessionOf(cinfo);
  (*cinfo->err->format_message)(cinfo, s->message);
  Leave(s, Stop::kCorrupt);
}

// Warnings and trace messages: counted by libjpeg (num_warnings), never
// printed. Their text can carry bytes of the image.
void DiscardMessage(j_common_ptr) {}

bool Cancelled(const JpegDecodeControl& c) {
  return c.cancelled != nullptr && *c.cancelled && (*c.cancelled)();
}

// Called once per iMCU row of every pass, including while jpeg_start_
// decompress absorbs all the scans of a progressive file.
void Progress(j_common_ptr common) {
  Session* s = SessionOf(common);
  const JpegDecodeControl& c = *s->control;
  if (c.max_scans > 0 && s->cinfo.input_scan_number > c.max_scans) {
    s->scan_at_stop = s->cinfo.input_scan_number;
    Leave(s, Stop::kScans);
  }
  const auto now = std::chrono::steady_clock::now();
  if (now >= c.deadline) Leave(s, Stop::kDeadline);
  if (now >= c.budget_end) Leave(s, Stop::kBudget);
  if (Cancelled(c)) Leave(s, Stop::kCancelled);
}

// What OpenCV's JPEG reader asks libjpeg for, and how it turns CMYK into its
// output (utils.cpp, icvCvt_CMYK2BGR_8u_C4C3R / icvCvt_CMYK2Gray_8u_C4C1R).
struct OutputPlan {
  J_COLOR_SPACE space = JCS_GRAYSCALE;
  int channels = 1;   // Of the cv::Mat.
  bool cmyk = false;  // libjpeg gives 4 components that we convert.
};

OutputPlan PlanOutput(int components, bool gray) {
  OutputPlan p;
  if (components == 4) {
    p.space = JCS_CMYK;
    p.cmyk = true;
    p.channels = gray ? 1 : 3;
  } else if (gray || components == 1) {
    p.space = JCS_GRAYSCALE;
    p.channels = 1;
  } else {
    p.space = JCS_EXT_BGR;
    p.channels = 3;
  }
  return p;
}

inline int CmykChannel(int v, int k) { return k - (((255 - v) * k) >> 8); }

void CmykRowToBgr(const uint8_t* in, uint8_t* out, int width) {
  for (int x = 0; x < width; ++x, in += 4, out += 3) {
    const int k = in[3];
    out[0] = static_cast<uint8_t>(CmykChannel(in[2], k));
    out[1] = static_cast<uint8_t>(CmykChannel(in[1], k));
    out[2] = static_cast<uint8_t>(CmykChannel(in[0], k));
  }
}

void CmykRowToGray(const uint8_t* in, uint8_t* out, int width) {
  // BT.601 luma in 14-bit fixed point, rounded: OpenCV's cR, cG, cB.
  constexpr int kShift = 14;
  constexpr int kR = 4899, kG = 9617, kB = (1 << kShift) - kR - kG;
  for (int x = 0; x < width; ++x, in += 4) {
    const int k = in[3];
    const int c = CmykChannel(in[0], k), m = CmykChannel(in[1], k),
              y = CmykChannel(in[2], k);
    out[x] = static_cast<uint8_t>(
        (y * kB + m * kG + c * kR + (1 << (kShift - 1))) >> kShift);
  }
}

// Sets up the decompressor (which can fail on allocation).
bool Create(Session* s) {
  if (setjmp(s->jump) != 0) return false;
  jpeg_create_decompress(&s->cinfo);
  return true;
}

// Phase 1: header and output size. Returns false when libjpeg stopped
// (s->stop says why). Only plain locals: see Session.
bool ReadHeader(Session* s, absl::string_view bytes, int scale_denom, bool gray,
                OutputPlan* plan) {
  if (setjmp(s->jump) != 0) return false;
  jpeg_mem_src(&s->cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&s->cinfo, TRUE);
  s->cinfo.scale_num = 1;
  s->cinfo.scale_denom = static_cast<unsigned int>(scale_denom);
  *plan = PlanOutput(s->cinfo.num_components, gray);
  s->cinfo.out_color_space = plan->space;
  jpeg_calc_output_dimensions(&s->cinfo);
  return true;
}

// Phase 2: the pixels, into `out` (rows of `step` bytes). `row` holds one
// CMYK row when plan.cmyk.
bool ReadPixels(Session* s, const OutputPlan& plan, uint8_t* out, size_t step,
                uint8_t* row) {
  if (setjmp(s->jump) != 0) return false;
  s->progress.progress_monitor = Progress;
  s->cinfo.progress = &s->progress;
  // The first check happens before any scan is decoded, so a call whose
  // deadline already passed costs nothing.
  Progress(reinterpret_cast<j_common_ptr>(&s->cinfo));
  jpeg_start_decompress(&s->cinfo);
  const int width = static_cast<int>(s->cinfo.output_width);
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    uint8_t* dest = out + step * s->cinfo.output_scanline;
    JSAMPROW target = plan.cmyk ? row : dest;
    if (jpeg_read_scanlines(&s->cinfo, &target, 1) != 1) {
      // Only a suspending data source returns 0; a memory source never does.
      std::snprintf(s->message, sizeof(s->message), "no scanline returned");
      s->stop = Stop::kCorrupt;
      return false;
    }
    if (plan.cmyk) {
      if (plan.channels == 3) {
        CmykRowToBgr(row, dest, width);
      } else {
        CmykRowToGray(row, dest, width);
      }
    }
  }
  jpeg_finish_decompress(&s->cinfo);
  return true;
}

absl::Status StopStatus(const Session& s) {
  const JpegDecodeControl& c = *s.control;
  switch (s.stop) {
    case Stop::kScans:
      return absl::ResourceExhaustedError(absl::StrCat(
          "JPEG has more than ", c.max_scans,
          " scans, the limit (reached scan ", s.scan_at_stop, ")"));
    case Stop::kBudget:
      return absl::ResourceExhaustedError(
          absl::StrCat("decoding the JPEG took longer than the limit of ",
                       c.budget_ms, " ms"));
    case Stop::kDeadline:
      return absl::DeadlineExceededError("deadline exceeded while decoding");
    case Stop::kCancelled:
      return absl::CancelledError("cancelled while decoding");
    case Stop::kCorrupt:
    case Stop::kNone:
      break;
  }
  const absl::string_view message(s.message);
  // libjpeg reports an allocation over max_memory_to_use or a failed malloc
  // this way: that is a resource, not corrupt data.
  if (absl::StrContains(message, "Insufficient memory")) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot decode JPEG: ", message));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot decode JPEG: ", message.empty() ? "corrupt data" : message));
}

}  // namespace

absl::StatusOr<JpegDecodeResult> DecodeJpeg(absl::string_view bytes, bool gray,
                                            int scale_denom,
                                            const JpegDecodeControl& control) {
  if (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 &&
      scale_denom != 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JPEG scale 1/", scale_denom, " is not 1/1, 1/2, 1/4 or 1/8"));
  }
  if (bytes.size() > std::numeric_limits<unsigned long>::max()) {
    return absl::ResourceExhaustedError("JPEG too large");
  }
  Session s;
  s.control = &control;
  s.cinfo.err = jpeg_std_error(&s.err);
  s.err.error_exit = ErrorExit;
  s.err.output_message = DiscardMessage;
  std::memset(&s.progress, 0, sizeof(s.progress));
  s.cinfo.client_data = &s;  // Kept by jpeg_create_decompress.
  if (!Create(&s)) return StopStatus(s);

  JpegDecodeResult result;
  OutputPlan plan;
  bool ok = ReadHeader(&s, bytes, scale_denom, gray, &plan);
  std::vector<uint8_t> cmyk_row;
  if (ok && control.max_pixels > 0) {
    // The frame's own size, before DCT scaling: what libjpeg's coefficient
    // buffers are sized by.
    const int64_t fw = s.cinfo.image_width, fh = s.cinfo.image_height;
    if (fw * fh > control.max_pixels) {
      jpeg_destroy_decompress(&s.cinfo);
      return absl::ResourceExhaustedError(absl::StrCat(
          "JPEG frame is ", fw, "x", fh, " = ", fw * fh,
          " pixels, over the limit of ", control.max_pixels, " pixels"));
    }
  }
  if (ok) {
    const int64_t w = s.cinfo.output_width, h = s.cinfo.output_height;
    if (w <= 0 || h <= 0 || w > std::numeric_limits<int>::max() / 4 ||
        h > std::numeric_limits<int>::max()) {
      jpeg_destroy_decompress(&s.cinfo);
      return absl::InvalidArgumentError(
          absl::StrCat("cannot decode JPEG: output size ", w, "x", h));
    }
    try {
      result.pixels.create(static_cast<int>(h), static_cast<int>(w),
                           plan.channels == 1 ? CV_8UC1 : CV_8UC3);
      if (plan.cmyk) cmyk_row.resize(static_cast<size_t>(w) * 4);
    } catch (const std::exception& e) {
      jpeg_destroy_decompress(&s.cinfo);
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", w, "x", h, " pixels: ", e.what()));
    }
    ok = ReadPixels(&s, plan, result.pixels.data, result.pixels.step[0],
                    cmyk_row.data());
  }
  result.warnings = static_cast<int>(s.err.num_warnings);
  jpeg_destroy_decompress(&s.cinfo);
  if (!ok) return StopStatus(s);
  return result;
}

}  // namespace hashmatch
