// Reads an encoded image's format, dimensions and EXIF orientation from its
// first bytes, without decoding pixels, so that limits are enforced before a
// decoder allocates anything.
//
//   ASSIGN_OR_RETURN(ImageHeader header, ParseImageHeader(bytes));
//   if (header.width * header.height > limit) ...
//
// Supported: JPEG, PNG, WebP, BMP, TIFF. GIF, animated PNG and animated WebP
// are recognised and rejected as "not supported as an image".
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_HASHING_IMAGE_HEADER_H_
#define HASHMATCH_SRC_HASHING_IMAGE_HEADER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

enum class ImageFormat { kJpeg, kPng, kWebp, kBmp, kTiff };
absl::string_view ImageFormatName(ImageFormat format);

struct ImageHeader {
  ImageFormat format = ImageFormat::kJpeg;
  int64_t width = 0;
  int64_t height = 0;
  // EXIF orientation tag (1..8) of a JPEG or TIFF, 0 when absent. Reported
  // only: hashing uses the pixels as stored, as the PDQ reference does.
  int exif_orientation = 0;
};

// INVALID_ARGUMENT with a specific message for: empty input, an unrecognised
// format, GIF or other animated input, a header cut short, zero width or
// height, (JPEG) data with no end-of-image marker after the first scan or a
// stuffed zero (FF 00) where a marker belongs, and (TIFF) an ImageWidth or
// ImageLength that is not one SHORT or LONG.
// The sizes are the ones the decoders allocate for: a TIFF tag given twice
// counts with its first entry, as libtiff reads it.
absl::StatusOr<ImageHeader> ParseImageHeader(absl::string_view bytes);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_IMAGE_HEADER_H_
