#include "src/hashing/image_header.h"

#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hashmatch {
namespace {

// Bounds-checked big/little-endian reads over the input.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}
  bool Has(size_t pos, size_t n) const {
    return pos <= data_.size() && n <= data_.size() - pos;
  }
  uint32_t U8(size_t p) const { return static_cast<uint8_t>(data_[p]); }
  uint32_t Be16(size_t p) const { return U8(p) << 8 | U8(p + 1); }
  uint32_t Le16(size_t p) const { return U8(p + 1) << 8 | U8(p); }
  uint32_t Be32(size_t p) const { return Be16(p) << 16 | Be16(p + 2); }
  uint32_t Le32(size_t p) const { return Le16(p + 2) << 16 | Le16(p); }
  uint32_t Le24(size_t p) const { return U8(p + 2) << 16 | Le16(p); }
  bool Matches(size_t p, absl::string_view s) const {
    return Has(p, s.size()) && data_.substr(p, s.size()) == s;
  }
  size_t size() const { return data_.size(); }
  absl::string_view data() const { return data_; }

 private:
  absl::string_view data_;
};

absl::Status Truncated(absl::string_view format) {
  return absl::InvalidArgumentError(
      absl::StrCat("truncated ", format, " header"));
}

absl::Status NotAnImage(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(what,
                   " is not supported as an image (animated input; only still "
                   "JPEG, PNG, WebP, BMP and TIFF images are hashed)"));
}

// Reads the orientation tag from a TIFF structure (EXIF payload or TIFF file)
// starting at `base`. Returns 0 when absent or malformed.
int TiffOrientation(const Reader& r, size_t base) {
  if (!r.Has(base, 8)) return 0;
  const bool le = r.Matches(base, "II");
  if (!le && !r.Matches(base, "MM")) return 0;
  auto u16 = [&](size_t p) { return le ? r.Le16(p) : r.Be16(p); };
  auto u32 = [&](size_t p) { return le ? r.Le32(p) : r.Be32(p); };
  const size_t ifd = base + u32(base + 4);
  if (!r.Has(ifd, 2)) return 0;
  const uint32_t entries = u16(ifd);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * static_cast<size_t>(i);
    if (!r.Has(e, 12)) return 0;
    if (u16(e) == 0x0112) {
      const uint32_t v = u16(e + 8);
      return (v >= 1 && v <= 8) ? static_cast<int>(v) : 0;
    }
  }
  return 0;
}

absl::StatusOr<ImageHeader> ParseJpeg(const Reader& r) {
  ImageHeader h;
  h.format = ImageFormat::kJpeg;
  bool have_size = false;
  size_t p = 2;
  while (true) {
    // Skip fill bytes before a marker.
    while (r.Has(p, 1) && r.U8(p) == 0xFF && r.Has(p + 1, 1) &&
           r.U8(p + 1) == 0xFF) {
      ++p;
    }
    if (!r.Has(p, 4)) return Truncated("JPEG");
    if (r.U8(p) != 0xFF) {
      return absl::InvalidArgumentError(
          absl::StrCat("corrupt JPEG: expected a marker at offset ", p));
    }
    const uint32_t marker = r.U8(p + 1);
    if (marker == 0x00) {
      // FF 00 is a stuffed zero, not a marker: libjpeg skips it and the
      // bytes after it until the next FF, so a length read here would walk
      // segments libjpeg never sees (and miss a frame header it does see).
      return absl::InvalidArgumentError(
          absl::StrCat("corrupt JPEG: expected a marker at offset ", p));
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) ||
        marker == 0x01) {
      p += 2;  // Markers without a length.
      continue;
    }
    if (marker == 0xD9) {
      return absl::InvalidArgumentError("corrupt JPEG: no image data");
    }
    const uint32_t len = r.Be16(p + 2);
    if (len < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("corrupt JPEG: bad segment length at offset ", p));
    }
    const size_t body = p + 4;
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
        marker != 0xCC) {
      if (!r.Has(body, 5)) return Truncated("JPEG");
      h.height = r.Be16(body + 1);
      h.width = r.Be16(body + 3);
      have_size = true;
    } else if (marker == 0xE1 &&
               r.Matches(body, absl::string_view("Exif\0\0", 6))) {
      h.exif_orientation = TiffOrientation(r, body + 6);
    } else if (marker == 0xDA) {
      if (!have_size) {
        return absl::InvalidArgumentError(
            "corrupt JPEG: scan data before a frame header");
      }
      // Entropy-coded data never contains FF D9 (0xFF is always stuffed), so
      // its absence after the first scan means the file was cut short.
      if (r.data().rfind("\xFF\xD9") == absl::string_view::npos ||
          r.data().rfind("\xFF\xD9") < body) {
        return absl::InvalidArgumentError(
            "truncated JPEG: no end-of-image marker after the scan data");
      }
      return h;
    }
    p += 2 + len;
  }
}

absl::StatusOr<ImageHeader> ParsePng(const Reader& r) {
  ImageHeader h;
  h.format = ImageFormat::kPng;
  if (!r.Has(8, 8 + 13) || !r.Matches(12, "IHDR")) return Truncated("PNG");
  h.width = r.Be32(16);
  h.height = r.Be32(20);
  // Walk the chunks before the image data: an acTL chunk marks an APNG.
  size_t p = 8;
  while (r.Has(p, 8)) {
    const uint32_t len = r.Be32(p);
    if (r.Matches(p + 4, "acTL")) return NotAnImage("animated PNG (APNG)");
    if (r.Matches(p + 4, "IDAT") || r.Matches(p + 4, "IEND")) break;
    p += 12 + static_cast<size_t>(len);
  }
  return h;
}

absl::StatusOr<ImageHeader> ParseWebp(const Reader& r) {
  ImageHeader h;
  h.format = ImageFormat::kWebp;
  if (!r.Has(12, 8)) return Truncated("WebP");
  if (r.Matches(12, "VP8X")) {
    if (!r.Has(20, 10)) return Truncated("WebP");
    if (r.U8(20) & 0x02) return NotAnImage("animated WebP");
    h.width = static_cast<int64_t>(r.Le24(24)) + 1;
    h.height = static_cast<int64_t>(r.Le24(27)) + 1;
  } else if (r.Matches(12, "VP8 ")) {
    if (!r.Has(20, 10)) return Truncated("WebP");
    if (r.U8(23) != 0x9D || r.U8(24) != 0x01 || r.U8(25) != 0x2A) {
      return absl::InvalidArgumentError("corrupt WebP: bad VP8 start code");
    }
    h.width = r.Le16(26) & 0x3FFF;
    h.height = r.Le16(28) & 0x3FFF;
  } else if (r.Matches(12, "VP8L")) {
    if (!r.Has(20, 5)) return Truncated("WebP");
    if (r.U8(20) != 0x2F) {
      return absl::InvalidArgumentError("corrupt WebP: bad VP8L signature");
    }
    const uint32_t bits = r.Le32(21);
    h.width = static_cast<int64_t>(bits & 0x3FFF) + 1;
    h.height = static_cast<int64_t>((bits >> 14) & 0x3FFF) + 1;
  } else {
    return absl::InvalidArgumentError("corrupt WebP: unknown first chunk");
  }
  return h;
}

absl::StatusOr<ImageHeader> ParseBmp(const Reader& r) {
  ImageHeader h;
  h.format = ImageFormat::kBmp;
  if (!r.Has(14, 4)) return Truncated("BMP");
  const uint32_t dib = r.Le32(14);
  if (dib == 12) {
    if (!r.Has(18, 4)) return Truncated("BMP");
    h.width = r.Le16(18);
    h.height = r.Le16(20);
  } else {
    if (!r.Has(18, 8)) return Truncated("BMP");
    h.width = static_cast<int32_t>(r.Le32(18));
    h.height = static_cast<int32_t>(r.Le32(22));
    if (h.height < 0) h.height = -h.height;  // Top-down rows.
    if (h.width < 0) {
      return absl::InvalidArgumentError("corrupt BMP: negative width");
    }
  }
  return h;
}

absl::StatusOr<ImageHeader> ParseTiff(const Reader& r) {
  ImageHeader h;
  h.format = ImageFormat::kTiff;
  const bool le = r.Matches(0, "II");
  auto u16 = [&](size_t p) { return le ? r.Le16(p) : r.Be16(p); };
  auto u32 = [&](size_t p) { return le ? r.Le32(p) : r.Be32(p); };
  if (!r.Has(0, 8)) return Truncated("TIFF");
  if (u16(2) == 43) {
    return absl::InvalidArgumentError("BigTIFF is not supported");
  }
  const size_t ifd = u32(4);
  if (!r.Has(ifd, 2)) return Truncated("TIFF");
  const uint32_t entries = u16(ifd);
  // libtiff (OpenCV's TIFF decoder) reads ImageWidth and ImageLength from
  // the first entry of each tag and ignores later duplicates; so does this
  // parser, and it takes them only as one SHORT or LONG held in the entry,
  // so that the size checked here is the size libtiff allocates for.
  bool have_width = false, have_height = false, have_orientation = false;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * static_cast<size_t>(i);
    if (!r.Has(e, 12)) return Truncated("TIFF");
    const uint32_t tag = u16(e), type = u16(e + 2), count = u32(e + 4);
    const uint32_t value = type == 3 ? u16(e + 8) : u32(e + 8);
    if ((tag == 256 && !have_width) || (tag == 257 && !have_height)) {
      if ((type != 3 && type != 4) || count != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unsupported TIFF: ", tag == 256 ? "ImageWidth" : "ImageLength",
            " is not one SHORT or LONG (type ", type, ", count ", count, ")"));
      }
      if (tag == 256) {
        h.width = value;
        have_width = true;
      } else {
        h.height = value;
        have_height = true;
      }
    }
    if (tag == 274 && !have_orientation) {
      have_orientation = true;
      if (value >= 1 && value <= 8)
        h.exif_orientation = static_cast<int>(value);
    }
  }
  return h;
}

}  // namespace

absl::string_view ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kWebp:
      return "webp";
    case ImageFormat::kBmp:
      return "bmp";
    case ImageFormat::kTiff:
      return "tiff";
  }
  return "unknown";
}

absl::StatusOr<ImageHeader> ParseImageHeader(absl::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("image is empty (0 bytes)");
  }
  const Reader r(bytes);
  absl::StatusOr<ImageHeader> header;
  if (r.Matches(0, "\xFF\xD8\xFF")) {
    header = ParseJpeg(r);
  } else if (r.Matches(0, "\x89PNG\r\n\x1A\n")) {
    header = ParsePng(r);
  } else if (r.Matches(0, "RIFF") && r.Matches(8, "WEBP")) {
    header = ParseWebp(r);
  } else if (r.Matches(0, "BM")) {
    header = ParseBmp(r);
  } else if (r.Matches(0, absl::string_view("II*\0", 4)) ||
             r.Matches(0, absl::string_view("MM\0*", 4)) ||
             r.Matches(0, absl::string_view("II+\0", 4)) ||
             r.Matches(0, absl::string_view("MM\0+", 4))) {
    header = ParseTiff(r);
  } else if (r.Matches(0, "GIF87a") || r.Matches(0, "GIF89a")) {
    return NotAnImage("GIF");
  } else {
    std::string prefix;
    for (size_t i = 0; i < std::min<size_t>(4, bytes.size()); ++i) {
      absl::StrAppendFormat(&prefix, "%02x", r.U8(i));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unrecognised image format (first bytes ", prefix,
                     "); supported: JPEG, PNG, WebP, BMP, TIFF"));
  }
  if (!header.ok()) return header;
  if (header->width <= 0 || header->height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image has zero size (", header->width, "x", header->height, ")"));
  }
  return header;
}

}  // namespace hashmatch
