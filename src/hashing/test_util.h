// Helpers shared by the hashing unit tests (test-only; not part of the
// library): in-memory image encoding, synthetic images and fixture paths.
//
//   cv::Mat img = SmoothTexture(320, 240, /*seed=*/7);
//   std::string png = Encode(".png", img);
//   ImageView view = ViewOf(img);
#ifndef HASHMATCH_SRC_HASHING_TEST_UTIL_H_
#define HASHMATCH_SRC_HASHING_TEST_UTIL_H_

#include <cstdint>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_view.h"

namespace hashmatch {
namespace testing_util {

// Encodes `image` with OpenCV ("ext" is ".png", ".jpg", ...). Fails the
// current test (and returns "") if the codec is missing.
inline std::string Encode(const std::string& ext, const cv::Mat& image,
                          const std::vector<int>& params = {}) {
  std::vector<uint8_t> buf;
  bool ok = false;
  try {
    ok = cv::imencode(ext, image, buf, params);
  } catch (const cv::Exception& e) {
    ADD_FAILURE() << "imencode(" << ext << ") threw: " << e.what();
    return "";
  }
  EXPECT_TRUE(ok) << "imencode(" << ext << ") failed";
  return std::string(buf.begin(), buf.end());
}

// The attack on decoders that cannot stop (issue 14, defect 1): a valid
// JPEG whose last scan is repeated `extra` more times before the end marker.
// libjpeg decodes every copy (a refinement pass over all coefficients) and
// only warns. Give it a progressive JPEG, whose last scan refines all of them.
inline std::string RepeatLastJpegScan(const std::string& jpeg, int extra) {
  // In entropy-coded data 0xFF is followed by 0x00 or a restart marker, so
  // the last FF DA is the last start-of-scan marker.
  const size_t sos = jpeg.rfind(std::string("\xFF\xDA", 2));
  EXPECT_NE(sos, std::string::npos) << "no start-of-scan marker";
  EXPECT_GE(jpeg.size(), 2u);
  if (sos == std::string::npos || jpeg.size() < sos + 2) return jpeg;
  const std::string body = jpeg.substr(0, jpeg.size() - 2);  // Without EOI.
  const std::string scan = body.substr(sos);
  std::string out = body;
  out.reserve(body.size() + scan.size() * extra + 2);
  for (int i = 0; i < extra; ++i) out += scan;
  out += std::string("\xFF\xD9", 2);
  return out;
}

// A view of a CV_8UC1 or CV_8UC3 Mat (which must outlive it).
inline ImageView ViewOf(const cv::Mat& m) { return ViewOfMat(m); }

// Deterministic pseudo-random bytes: raw mt19937 output, which the standard
// fixes (unlike the distributions), so the bytes are the same everywhere.
inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xFF);
  return out;
}

// White noise blurred into smooth blobs: a textured, photo-like BGR image
// with high PDQ quality. Different seeds give unrelated images.
inline cv::Mat SmoothTexture(int width, int height, uint32_t seed,
                             int channels = 3) {
  std::mt19937 gen(seed);
  // Noise on a coarse grid (about 24 cells along the longer side), lightly
  // blurred, then scaled up smoothly: fast even for large images.
  const int longest = std::max(width, height);
  const int gw = std::max(2, width * 24 / longest);
  const int gh = std::max(2, height * 24 / longest);
  cv::Mat grid(gh, gw, CV_32FC(channels));
  float* p = grid.ptr<float>(0);
  for (size_t i = 0; i < grid.total() * channels; ++i) {
    p[i] = static_cast<float>(gen() % 256);
  }
  cv::GaussianBlur(grid, grid, cv::Size(0, 0), 0.8);
  cv::Mat big, out;
  cv::resize(grid, big, cv::Size(width, height), 0, 0, cv::INTER_CUBIC);
  cv::Mat flat = big.reshape(1);
  cv::normalize(flat, flat, 0, 255, cv::NORM_MINMAX);
  flat.reshape(channels).convertTo(out, CV_8U);
  return out;
}

inline std::string Be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

inline std::string Le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// The CRC-32 that PNG chunks carry (polynomial 0xEDB88320, bitwise).
inline uint32_t Crc32(const std::string& data) {
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) {
    c ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return c ^ 0xFFFFFFFFu;
}

inline std::string PngChunk(const std::string& type, const std::string& body) {
  return Be32(static_cast<uint32_t>(body.size())) + type + body +
         Be32(Crc32(type + body));
}

inline const std::string kPngSignature("\x89PNG\r\n\x1A\n", 8);

// `data` as a zlib stream of one stored (uncompressed) deflate block, with
// its Adler-32: what a PNG iCCP chunk may carry, without linking zlib.
inline std::string ZlibStored(const std::string& data) {
  const uint32_t n = static_cast<uint32_t>(data.size());  // < 65536.
  uint32_t a = 1, b = 0;
  for (char ch : data) {
    a = (a + static_cast<uint8_t>(ch)) % 65521;
    b = (b + a) % 65521;
  }
  std::string s("\x78\x01\x01", 3);       // Header; final stored block.
  s += Le32(n | ((~n & 0xFFFFu) << 16));  // LEN, NLEN (little-endian).
  return s + data + Be32((b << 16) | a);
}

// A PNG of a smooth texture (64x48) with an iCCP chunk named `name` whose
// profile is not a valid ICC profile (a 132-byte header declaring 200
// bytes, the rest random): libpng rejects the profile with a warning that
// quotes the name (the image itself still decodes). Log-injection tests put
// a forged log line in the name.
inline std::string PngWithBadIccProfile(const std::string& name) {
  std::vector<uint8_t> png;
  cv::imencode(".png", SmoothTexture(64, 48, 3), png);
  const std::string bytes(png.begin(), png.end());
  std::string profile = RandomBytes(132, 9);
  profile.replace(0, 4, std::string("\0\0\0\xC8", 4));
  const std::string body = name + std::string(1, '\0') +
                           std::string(1, '\0') +  // Deflate.
                           ZlibStored(profile);
  // After the signature (8) and IHDR (4 + 4 + 13 + 4).
  const size_t after_ihdr = 8 + 25;
  return bytes.substr(0, after_ihdr) + PngChunk("iCCP", body) +
         bytes.substr(after_ihdr);
}

// Signature and IHDR (8-bit RGB) only.
inline std::string PngHeader(uint32_t width, uint32_t height) {
  return kPngSignature +
         PngChunk("IHDR", Be32(width) + Be32(height) +
                              std::string("\x08\x02\x00\x00\x00", 5));
}

// An APP1 Exif segment holding one IFD entry: Orientation (0x0112), SHORT,
// count 1, value `orientation`; big-endian ("MM") or little-endian ("II").
inline std::string ExifApp1(int orientation, bool big_endian) {
  auto u16 = [big_endian](uint32_t v) {
    return big_endian ? std::string{static_cast<char>(v >> 8),
                                    static_cast<char>(v & 0xFF)}
                      : std::string{static_cast<char>(v & 0xFF),
                                    static_cast<char>(v >> 8)};
  };
  auto u32 = [&](uint32_t v) {
    return big_endian ? u16(v >> 16) + u16(v & 0xFFFF)
                      : u16(v & 0xFFFF) + u16(v >> 16);
  };
  std::string tiff = big_endian ? "MM" : "II";
  tiff += u16(42) + u32(8);               // Magic, offset of IFD0.
  tiff += u16(1);                         // One entry.
  tiff += u16(0x0112) + u16(3) + u32(1);  // Orientation, SHORT, 1 value.
  tiff += u16(orientation) + std::string(2, '\0');  // Value, padded.
  tiff += u32(0);                                   // No next IFD.
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t len = payload.size() + 2;
  return std::string("\xFF\xE1", 2) + static_cast<char>(len >> 8) +
         static_cast<char>(len & 0xFF) + payload;
}

// Offset of the first baseline or progressive frame header (FF C0 / FF C2)
// of an encoder's JPEG, or npos.
inline size_t JpegFrameOffset(const std::string& jpeg) {
  for (size_t p = jpeg.find('\xFF');
       p != std::string::npos && p + 1 < jpeg.size();
       p = jpeg.find('\xFF', p + 1)) {
    if (jpeg[p + 1] == '\xC0' || jpeg[p + 1] == '\xC2') return p;
  }
  return std::string::npos;
}

// `jpeg` (an encoder's, with one frame header) with its frame declaring
// width x height.
inline std::string WithJpegFrameSize(std::string jpeg, int width, int height) {
  const size_t sof = JpegFrameOffset(jpeg);
  if (sof == std::string::npos) return "";
  jpeg[sof + 5] = static_cast<char>(height >> 8);
  jpeg[sof + 6] = static_cast<char>(height & 0xFF);
  jpeg[sof + 7] = static_cast<char>(width >> 8);
  jpeg[sof + 8] = static_cast<char>(width & 0xFF);
  return jpeg;
}

// The fuzzer's max-pixels bypass (fuzz/image_decode_fuzzer.cc): `jpeg` with
// its frame header moved right after SOI and hidden behind stuffed zeros so
// that a parser taking FF 00 for a marker with a length sees the original
// frame while libjpeg (which skips FF 00 and the bytes up to the next FF)
// skips it inside an APP1 and reads a second frame declaring
// width x height:
//   FF D8, FF 00 00 06 FF E1 <len of frame + 2>, <frame>,
//   FF 00 <len of frame + 2> <frame declaring width x height>, rest.
inline std::string HideJpegFrameBehindStuffedZero(const std::string& jpeg,
                                                  int width, int height) {
  const size_t sof = JpegFrameOffset(jpeg);
  if (sof == std::string::npos) return "";
  const size_t len = (static_cast<uint8_t>(jpeg[sof + 2]) << 8) |
                     static_cast<uint8_t>(jpeg[sof + 3]);
  const std::string frame = jpeg.substr(sof, 2 + len);
  const std::string big = WithJpegFrameSize(frame, width, height);
  auto be16 = [](size_t v) {
    return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
  };
  std::string out = jpeg.substr(0, 2);
  out += std::string("\xFF\x00", 2) + be16(6) + "\xFF\xE1" +
         be16(frame.size() + 2) + frame;
  out += std::string("\xFF\x00", 2) + be16(big.size() + 2) + big;
  out += jpeg.substr(2, sof - 2) + jpeg.substr(sof + 2 + len);
  return out;
}

// A little-endian 8-bit RGB TIFF (one strip of zeros) whose IFD gives
// ImageWidth and ImageLength twice: first as LONG first_width x
// first_height, then as SHORT later_width x later_height. libtiff reads
// the first entries (and OpenCV allocates for them).
inline std::string TiffWithSizeTwice(uint32_t first_width,
                                     uint32_t first_height,
                                     uint32_t later_width,
                                     uint32_t later_height) {
  auto u16 = [](uint32_t v) {
    return std::string{static_cast<char>(v & 0xFF),
                       static_cast<char>((v >> 8) & 0xFF)};
  };
  struct Field {
    uint32_t tag, type, value;
  };
  const uint32_t strip_bytes = 3 * later_width * later_height;
  const Field fields[] = {{256, 4, first_width},
                          {256, 3, later_width},
                          {257, 4, first_height},
                          {257, 3, later_height},
                          {258, 3, 8},
                          {259, 3, 1},
                          {262, 3, 2},
                          {273, 4, 0},
                          {277, 3, 3},
                          {278, 4, 1u << 16},
                          {279, 4, strip_bytes}};
  const uint32_t n = sizeof(fields) / sizeof(fields[0]);
  const uint32_t data_offset = 8 + 2 + 12 * n + 4;
  std::string tiff = std::string("II*\0", 4) + Le32(8) + u16(n);
  for (const Field& f : fields) {
    const uint32_t value = f.tag == 273 ? data_offset : f.value;
    tiff += u16(f.tag) + u16(f.type) + Le32(1);
    tiff += f.type == 3 ? u16(value) + u16(0) : Le32(value);
  }
  tiff += Le32(0) + std::string(strip_bytes, '\0');
  return tiff;
}

// Absolute path of a file in the source tree (HASHMATCH_SRC_DIR is set by
// src/hashing/CMakeLists.txt).
inline std::string SourcePath(const std::string& relative) {
  return std::string(HASHMATCH_SRC_DIR) + "/" + relative;
}

// The whole file, or "" if it cannot be read.
inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_TEST_UTIL_H_
