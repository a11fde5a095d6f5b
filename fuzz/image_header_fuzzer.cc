// Fuzzes ParseImageHeader (src/hashing/image_header.h), which reads a
// format, size and EXIF orientation from untrusted bytes before any decoder
// runs, so that the pixel limits hold.
//
// Checks for every input: errors are INVALID_ARGUMENT with a message free of
// control bytes; an OK header has a format that matches the signature, both
// sides positive and within what the format can express, an orientation in
// 0..8 (only JPEG and TIFF carry one), and parsing is deterministic.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "fuzz/fuzz_util.h"
#include "src/hashing/image_header.h"

namespace hashmatch {
namespace {

// The largest side each format can declare.
int64_t MaxSide(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return 0xFFFF;
    case ImageFormat::kWebp:
      return 1 << 24;
    case ImageFormat::kBmp:
      return int64_t{1} << 31;
    case ImageFormat::kPng:
    case ImageFormat::kTiff:
      return 0xFFFFFFFF;
  }
  return 0;
}

void Check(absl::string_view bytes) {
  const absl::StatusOr<ImageHeader> h = ParseImageHeader(bytes);
  const absl::StatusOr<ImageHeader> again = ParseImageHeader(bytes);
  FUZZ_CHECK(h.status() == again.status())
      << h.status() << " vs " << again.status();
  if (!h.ok()) {
    FUZZ_CHECK(h.status().code() == absl::StatusCode::kInvalidArgument)
        << h.status();
    FUZZ_CHECK(!h.status().message().empty());
    FUZZ_CHECK(fuzz::NoControlBytes(h.status().message())) << h.status();
    return;
  }
  FUZZ_CHECK(h->format == again->format && h->width == again->width &&
             h->height == again->height &&
             h->exif_orientation == again->exif_orientation);
  FUZZ_CHECK(h->width > 0 && h->height > 0) << h->width << "x" << h->height;
  FUZZ_CHECK(h->width <= MaxSide(h->format) && h->height <= MaxSide(h->format))
      << ImageFormatName(h->format) << " " << h->width << "x" << h->height;
  FUZZ_CHECK(h->exif_orientation >= 0 && h->exif_orientation <= 8)
      << h->exif_orientation;
  switch (h->format) {
    case ImageFormat::kJpeg:
      FUZZ_CHECK(absl::StartsWith(bytes, "\xFF\xD8\xFF"));
      break;
    case ImageFormat::kPng:
      FUZZ_CHECK(absl::StartsWith(bytes, "\x89PNG\r\n\x1A\n"));
      FUZZ_CHECK(h->exif_orientation == 0);
      break;
    case ImageFormat::kWebp:
      FUZZ_CHECK(absl::StartsWith(bytes, "RIFF") &&
                 bytes.substr(8, 4) == "WEBP");
      FUZZ_CHECK(h->exif_orientation == 0);
      break;
    case ImageFormat::kBmp:
      FUZZ_CHECK(absl::StartsWith(bytes, "BM"));
      FUZZ_CHECK(h->exif_orientation == 0);
      break;
    case ImageFormat::kTiff:
      FUZZ_CHECK(absl::StartsWith(bytes, "II") ||
                 absl::StartsWith(bytes, "MM"));
      break;
  }
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Check(hashmatch::fuzz::AsView(data, size));
  return 0;
}
