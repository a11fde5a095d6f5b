#include "bench/pdq_baseline.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace hashmatch {
namespace bench {
namespace {

constexpr int kGrid = 64;
constexpr int kFreqs = 16;

void Luma(const ImageView& image, float* out) {
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* row = image.row(y);
    for (int x = 0; x < image.width; ++x) {
      float v;
      if (image.channels == 1) {
        v = static_cast<float>(row[x]);
      } else {
        const float r = row[3 * x + 2], g = row[3 * x + 1], b = row[3 * x];
        v = 0.299f * r + 0.587f * g + 0.114f * b;
      }
      out[static_cast<size_t>(y) * image.width + x] = v;
    }
  }
}

// Moving average of `n` samples spaced `stride` floats apart; the window
// grows from half width at the start and shrinks again at the end.
void Box1D(const float* in, float* out, int n, size_t stride, int window) {
  const int half = (window + 2) / 2;
  float sum = 0.0f;
  int count = 0;
  size_t left = 0, right = 0, o = 0;
  for (int i = 0; i < half - 1; ++i) {
    sum += in[right];
    ++count;
    right += stride;
  }
  for (int i = 0; i < window - half + 1; ++i) {
    sum += in[right];
    ++count;
    out[o] = sum / count;
    right += stride;
    o += stride;
  }
  for (int i = 0; i < n - window; ++i) {
    sum += in[right];
    sum -= in[left];
    out[o] = sum / count;
    left += stride;
    right += stride;
    o += stride;
  }
  for (int i = 0; i < half - 1; ++i) {
    sum -= in[left];
    --count;
    out[o] = sum / count;
    left += stride;
    o += stride;
  }
}

int Window(int dim) { return (dim + 2 * kGrid - 1) / (2 * kGrid); }

// Two passes of rows-then-columns; the result ends up back in `a`.
void Jarosz(float* a, float* b, int rows, int cols) {
  const int row_window = Window(cols), col_window = Window(rows);
  const size_t stride = static_cast<size_t>(cols);
  for (int pass = 0; pass < 2; ++pass) {
    for (int r = 0; r < rows; ++r) {
      Box1D(a + r * stride, b + r * stride, cols, 1, row_window);
    }
    for (int c = 0; c < cols; ++c) {
      Box1D(b + c, a + c, rows, stride, col_window);
    }
  }
}

int Quality(const float grid[kGrid][kGrid]) {
  int sum = 0;
  for (int i = 0; i + 1 < kGrid; ++i) {
    for (int j = 0; j < kGrid; ++j) {
      sum += std::abs(
          static_cast<int>(((grid[i][j] - grid[i + 1][j]) * 100) / 255));
    }
  }
  for (int i = 0; i < kGrid; ++i) {
    for (int j = 0; j + 1 < kGrid; ++j) {
      sum += std::abs(
          static_cast<int>(((grid[i][j] - grid[i][j + 1]) * 100) / 255));
    }
  }
  return std::min(100, sum / 90);
}

void Dct(const float grid[kGrid][kGrid], float out[kFreqs][kFreqs]) {
  static const auto* const matrix = [] {
    auto* d = new float[kFreqs][kGrid];
    const double pi = std::acos(-1.0);
    const float scale = static_cast<float>(std::sqrt(2.0 / kGrid));
    for (int i = 0; i < kFreqs; ++i) {
      for (int j = 0; j < kGrid; ++j) {
        d[i][j] = static_cast<float>(
            scale * std::cos(pi / (2.0 * kGrid) * (i + 1) * (2.0 * j + 1)));
      }
    }
    return d;
  }();
  float tmp[kFreqs][kGrid];
  for (int i = 0; i < kFreqs; ++i) {
    for (int j = 0; j < kGrid; ++j) {
      float s = 0.0f;
      for (int k = 0; k < kGrid; ++k) s += matrix[i][k] * grid[k][j];
      tmp[i][j] = s;
    }
  }
  for (int i = 0; i < kFreqs; ++i) {
    for (int j = 0; j < kFreqs; ++j) {
      float s = 0.0f;
      for (int k = 0; k < kGrid; ++k) s += tmp[i][k] * matrix[j][k];
      out[i][j] = s;
    }
  }
}

}  // namespace

PdqHash BaselinePdq::Hash(const ImageView& image) {
  PdqHash result;
  const int w = image.width, h = image.height;
  if (w < 5 || h < 5) return result;
  const size_t n = static_cast<size_t>(w) * h;
  if (luma_.size() < n) luma_.resize(n);
  if (scratch_.size() < n) scratch_.resize(n);
  Luma(image, luma_.data());
  if (w != kGrid || h != kGrid) Jarosz(luma_.data(), scratch_.data(), h, w);

  float grid[kGrid][kGrid];
  for (int i = 0; i < kGrid; ++i) {
    const int y = static_cast<int>(((i + 0.5) * h) / kGrid);
    for (int j = 0; j < kGrid; ++j) {
      const int x = static_cast<int>(((j + 0.5) * w) / kGrid);
      grid[i][j] = luma_[static_cast<size_t>(y) * w + x];
    }
  }
  result.quality = Quality(grid);

  float coeffs[kFreqs][kFreqs];
  Dct(grid, coeffs);
  float sorted[kFreqs * kFreqs];
  std::copy(&coeffs[0][0], &coeffs[0][0] + kFreqs * kFreqs, sorted);
  std::sort(sorted, sorted + kFreqs * kFreqs);
  const float median = sorted[kFreqs * kFreqs / 2 - 1];
  for (int k = 0; k < kFreqs * kFreqs; ++k) {
    if (coeffs[k / kFreqs][k % kFreqs] > median) result.hash.SetBit(k);
  }
  return result;
}

}  // namespace bench
}  // namespace hashmatch
