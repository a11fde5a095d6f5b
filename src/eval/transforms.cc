#include "src/eval/transforms.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace eval {
namespace {

int Scaled(int v, double s) {
  return std::max(1, static_cast<int>(std::lround(v * s)));
}

cv::Mat Resize(const cv::Mat& src, double s) {
  cv::Mat out;
  cv::resize(src, out, cv::Size(Scaled(src.cols, s), Scaled(src.rows, s)), 0, 0,
             cv::INTER_AREA);
  return out;
}

cv::Mat Crop(const cv::Mat& src, double p, cv::RNG& rng) {
  const int w = Scaled(src.cols, 1 - p), h = Scaled(src.rows, 1 - p);
  const int x = rng.uniform(0, src.cols - w + 1);
  const int y = rng.uniform(0, src.rows - h + 1);
  return src(cv::Rect(x, y, w, h)).clone();
}

cv::Scalar Grey(double v) { return cv::Scalar(v, v, v); }

cv::Mat PadSolid(const cv::Mat& src, cv::RNG& rng) {
  const int bx = Scaled(src.cols, 0.2), by = Scaled(src.rows, 0.2);
  const cv::Scalar colour(rng.uniform(0, 256), rng.uniform(0, 256),
                          rng.uniform(0, 256));
  cv::Mat out;
  cv::copyMakeBorder(src, out, by, by, bx, bx, cv::BORDER_CONSTANT, colour);
  return out;
}

cv::Mat PadBlur(const cv::Mat& src) {
  const int bx = Scaled(src.cols, 0.2), by = Scaled(src.rows, 0.2);
  const cv::Size canvas(src.cols + 2 * bx, src.rows + 2 * by);
  cv::Mat stretched, out;
  cv::resize(src, stretched, canvas, 0, 0, cv::INTER_LINEAR);
  const int k = std::max(3, std::max(canvas.width, canvas.height) / 8);
  cv::blur(stretched, out, cv::Size(k, k));
  src.copyTo(out(cv::Rect(bx, by, src.cols, src.rows)));
  return out;
}

cv::Mat Rotate(const cv::Mat& src, double degrees) {
  const cv::Mat m = cv::getRotationMatrix2D(
      cv::Point2f(src.cols / 2.0f, src.rows / 2.0f), degrees, 1.0);
  cv::Mat out;
  cv::warpAffine(src, out, m, src.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                 cv::Scalar::all(0));
  return out;
}

cv::Mat Gamma(const cv::Mat& src, double g) {
  cv::Mat lut(1, 256, CV_8U);
  for (int i = 0; i < 256; ++i) {
    lut.at<uint8_t>(i) =
        cv::saturate_cast<uint8_t>(std::lround(255.0 * std::pow(i / 255.0, g)));
  }
  cv::Mat out;
  cv::LUT(src, lut, out);
  return out;
}

cv::Mat Noise(const cv::Mat& src, cv::RNG& rng) {
  cv::Mat noise(src.size(), CV_32FC(src.channels()));
  rng.fill(noise, cv::RNG::NORMAL, 0.0, 12.0);
  cv::Mat f, out;
  src.convertTo(f, CV_32F);
  f += noise;
  f.convertTo(out, CV_8U);
  return out;
}

cv::Mat Vignette(const cv::Mat& src) {
  const double cx = (src.cols - 1) / 2.0, cy = (src.rows - 1) / 2.0;
  const double half_diag2 = cx * cx + cy * cy + 1e-9;
  cv::Mat out = src.clone();
  const int ch = src.channels();
  for (int y = 0; y < src.rows; ++y) {
    uint8_t* row = out.ptr<uint8_t>(y);
    for (int x = 0; x < src.cols; ++x) {
      const double r2 =
          ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / half_diag2;
      const double f = 1.0 - 0.6 * r2;
      for (int c = 0; c < ch; ++c) {
        row[x * ch + c] = cv::saturate_cast<uint8_t>(row[x * ch + c] * f);
      }
    }
  }
  return out;
}

cv::Mat TextOverlay(const cv::Mat& src, cv::RNG& rng) {
  cv::Mat overlay = src.clone();
  const double scale = std::max(0.4, src.cols / 400.0);
  const int thick = std::max(1, static_cast<int>(scale * 2));
  const int x = rng.uniform(0, std::max(1, src.cols / 4));
  const int y =
      rng.uniform(src.rows / 3, std::max(src.rows / 3 + 1, 2 * src.rows / 3));
  cv::putText(overlay, "SAMPLE WATERMARK", cv::Point(x, y),
              cv::FONT_HERSHEY_SIMPLEX, scale, Grey(255), thick, cv::LINE_AA);
  cv::Mat out;
  cv::addWeighted(overlay, 0.5, src, 0.5, 0.0, out);
  const int cy = src.rows - std::max(4, src.rows / 20);
  cv::putText(out, "shared by someone, 2026", cv::Point(src.cols / 20, cy),
              cv::FONT_HERSHEY_SIMPLEX, scale * 0.6, Grey(0), thick + 2,
              cv::LINE_AA);
  cv::putText(out, "shared by someone, 2026", cv::Point(src.cols / 20, cy),
              cv::FONT_HERSHEY_SIMPLEX, scale * 0.6, Grey(255), thick,
              cv::LINE_AA);
  return out;
}

cv::Mat Grayscale(const cv::Mat& src) {
  if (src.channels() == 1) return src.clone();
  cv::Mat out;
  cv::cvtColor(src, out, cv::COLOR_BGR2GRAY);
  return out;
}

cv::Mat Screenshot(const cv::Mat& src) {
  const cv::Mat photo = Resize(src, 0.7);
  const int w = Scaled(photo.cols, 1.45), h = Scaled(photo.rows, 1.6);
  cv::Mat out(h, w, src.type(), Grey(242));
  const int bar = std::max(4, h / 14);
  cv::rectangle(out, cv::Rect(0, 0, w, bar), Grey(50), cv::FILLED);
  const int panel = w / 5;
  cv::rectangle(out, cv::Rect(0, bar, panel, h - bar), Grey(222), cv::FILLED);
  const int line = std::max(2, h / 60);
  for (int i = 0; i < 12; ++i) {
    const int y = bar + (2 * i + 1) * 2 * line;
    if (y + line >= h) break;
    cv::rectangle(out, cv::Rect(panel / 8, y, panel * (4 + i % 3) / 8, line),
                  Grey(150), cv::FILLED);
  }
  const int px = panel + (w - panel - photo.cols) / 2;
  const int py = bar + std::max(2, (h - bar - photo.rows) / 4);
  photo.copyTo(out(cv::Rect(px, py, photo.cols, photo.rows)));
  for (int y = py + photo.rows + 2 * line; y + line < h; y += 2 * line) {
    cv::rectangle(out, cv::Rect(px, y, photo.cols * 3 / 4, line), Grey(170),
                  cv::FILLED);
  }
  cv::rectangle(
      out, cv::Rect(w - std::max(3, w / 80), bar, std::max(3, w / 80), h / 3),
      Grey(180), cv::FILLED);
  return out;
}

absl::StatusOr<std::string> EncodeJpeg(const cv::Mat& m, int quality) {
  std::vector<uint8_t> buf;
  if (!cv::imencode(".jpg", m, buf, {cv::IMWRITE_JPEG_QUALITY, quality})) {
    return absl::InternalError("JPEG encoding failed");
  }
  return std::string(buf.begin(), buf.end());
}

const std::vector<TransformSpec>& Specs() {
  static const auto* specs = new std::vector<TransformSpec>{
      {"identity", "unchanged pixels (lossless)"},
      {"resize50", "resized to 50%"},
      {"resize25", "resized to 25%"},
      {"jpeg90", "JPEG quality 90"},
      {"jpeg50", "JPEG quality 50"},
      {"jpeg30", "JPEG quality 30"},
      {"crop5", "5% cut from width and height"},
      {"crop10", "10% cut from width and height"},
      {"pad20_solid", "20% solid border on each side"},
      {"pad20_blur", "20% blurred-photo border on each side"},
      {"rotate4", "rotated 4 degrees"},
      {"rotate90", "rotated 90 degrees"},
      {"hflip", "mirrored left-right"},
      {"gamma", "gamma 0.6"},
      {"brightness_contrast", "contrast x1.3, brightness +25"},
      {"blur", "Gaussian blur, sigma = side/400"},
      {"noise", "Gaussian noise, sigma 12"},
      {"vignette", "darkened corners"},
      {"text_overlay", "watermark and caption"},
      {"grayscale", "grayscale"},
      {"aspect", "stretched to 130% width"},
      {"screenshot", "inside a screenshot-like frame"},
      {"combo", "resize 50% + crop 5% + JPEG 50"},
  };
  return *specs;
}

}  // namespace

const std::vector<TransformSpec>& AllTransforms() { return Specs(); }

absl::StatusOr<const TransformSpec*> FindTransform(absl::string_view name) {
  std::vector<std::string> names;
  for (const TransformSpec& s : Specs()) {
    if (name == s.name) return &s;
    names.emplace_back(s.name);
  }
  return absl::NotFoundError(absl::StrCat("unknown transform '", name,
                                          "'; valid: all, ",
                                          absl::StrJoin(names, ",")));
}

absl::StatusOr<std::vector<const TransformSpec*>> ParseTransformList(
    absl::string_view names) {
  std::vector<const TransformSpec*> out;
  if (names == "all") {
    for (const TransformSpec& s : Specs()) out.push_back(&s);
    return out;
  }
  for (absl::string_view name : absl::StrSplit(names, ',')) {
    ASSIGN_OR_RETURN(const TransformSpec* s, FindTransform(name));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

uint64_t TransformSeed(absl::string_view picture, absl::string_view transform,
                       uint64_t base_seed) {
  const std::string digest =
      Md5(absl::StrCat(picture, "|", transform, "|", base_seed));
  uint64_t seed = 0;
  for (int i = 0; i < 8; ++i) {
    seed = (seed << 8) | static_cast<uint8_t>(digest[i]);
  }
  return seed;
}

absl::StatusOr<cv::Mat> TransformPixels(const TransformSpec& spec,
                                        const cv::Mat& pixels, uint64_t seed) {
  if (pixels.empty() ||
      (pixels.type() != CV_8UC3 && pixels.type() != CV_8UC1)) {
    return absl::InvalidArgumentError(
        "transforms take a non-empty CV_8UC3 or CV_8UC1 image");
  }
  const std::string name = spec.name;
  cv::RNG rng(seed);
  try {
    cv::Mat out;
    if (name == "identity" || name == "jpeg90" || name == "jpeg50" ||
        name == "jpeg30") {
      out = pixels.clone();
    } else if (name == "resize50") {
      out = Resize(pixels, 0.5);
    } else if (name == "resize25") {
      out = Resize(pixels, 0.25);
    } else if (name == "crop5") {
      out = Crop(pixels, 0.05, rng);
    } else if (name == "crop10") {
      out = Crop(pixels, 0.10, rng);
    } else if (name == "pad20_solid") {
      out = PadSolid(pixels, rng);
    } else if (name == "pad20_blur") {
      out = PadBlur(pixels);
    } else if (name == "rotate4") {
      out = Rotate(pixels, 4.0);
    } else if (name == "rotate90") {
      cv::rotate(pixels, out, cv::ROTATE_90_CLOCKWISE);
    } else if (name == "hflip") {
      cv::flip(pixels, out, 1);
    } else if (name == "gamma") {
      out = Gamma(pixels, 0.6);
    } else if (name == "brightness_contrast") {
      pixels.convertTo(out, -1, 1.3, 25.0);
    } else if (name == "blur") {
      const double sigma =
          std::max(1.0, std::max(pixels.cols, pixels.rows) / 400.0);
      cv::GaussianBlur(pixels, out, cv::Size(0, 0), sigma);
    } else if (name == "noise") {
      out = Noise(pixels, rng);
    } else if (name == "vignette") {
      out = Vignette(pixels);
    } else if (name == "text_overlay") {
      out = TextOverlay(pixels, rng);
    } else if (name == "grayscale") {
      out = Grayscale(pixels);
    } else if (name == "aspect") {
      cv::resize(pixels, out, cv::Size(Scaled(pixels.cols, 1.3), pixels.rows),
                 0, 0, cv::INTER_LINEAR);
    } else if (name == "screenshot") {
      out = Screenshot(pixels);
    } else if (name == "combo") {
      out = Crop(Resize(pixels, 0.5), 0.05, rng);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown transform '", name, "'"));
    }
    return out;
  } catch (const cv::Exception& e) {
    return absl::InternalError(
        absl::StrCat("transform ", name, " failed: ", e.what()));
  }
}

absl::StatusOr<std::string> EncodePng(const cv::Mat& pixels) {
  try {
    std::vector<uint8_t> buf;
    if (!cv::imencode(".png", pixels, buf, {cv::IMWRITE_PNG_COMPRESSION, 1})) {
      return absl::InternalError("PNG encoding failed");
    }
    return std::string(buf.begin(), buf.end());
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", e.what()));
  }
}

absl::StatusOr<TransformedImage> ApplyTransform(const TransformSpec& spec,
                                                const cv::Mat& pixels,
                                                uint64_t seed) {
  ASSIGN_OR_RETURN(cv::Mat out, TransformPixels(spec, pixels, seed));
  const std::string name = spec.name;
  int quality = 0;
  if (name == "jpeg90") quality = 90;
  if (name == "jpeg50" || name == "combo") quality = 50;
  if (name == "jpeg30") quality = 30;
  TransformedImage result;
  result.width = out.cols;
  result.height = out.rows;
  if (quality > 0) {
    try {
      ASSIGN_OR_RETURN(result.bytes, EncodeJpeg(out, quality));
    } catch (const cv::Exception& e) {
      return absl::InternalError(
          absl::StrCat("JPEG encoding failed: ", e.what()));
    }
  } else {
    ASSIGN_OR_RETURN(result.bytes, EncodePng(out));
  }
  return result;
}

}  // namespace eval
}  // namespace hashmatch
