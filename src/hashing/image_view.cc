#include "src/hashing/image_view.h"

namespace hashmatch {

void ComputeLuma(const ImageView& image, float* out) {
  constexpr float kR = 0.299f, kG = 0.587f, kB = 0.114f;
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* p = image.row(y);
    float* o = out + static_cast<size_t>(y) * image.width;
    if (image.channels == 1) {
      for (int x = 0; x < image.width; ++x) o[x] = static_cast<float>(p[x]);
    } else {
      for (int x = 0; x < image.width; ++x) {
        const uint8_t* px = p + 3 * x;
        o[x] = kR * static_cast<float>(px[2]) + kG * static_cast<float>(px[1]) +
               kB * static_cast<float>(px[0]);
      }
    }
  }
}

ImageView ResizeNearest(const ImageView& image, int width, int height,
                        std::vector<uint8_t>* storage) {
  const int c = image.channels;
  storage->resize(static_cast<size_t>(width) * height * c);
  std::vector<int> src_x(width);
  for (int x = 0; x < width; ++x) {
    src_x[x] = static_cast<int>(static_cast<double>(x) * image.width / width);
  }
  for (int y = 0; y < height; ++y) {
    const int sy =
        static_cast<int>(static_cast<double>(y) * image.height / height);
    const uint8_t* in = image.row(sy);
    uint8_t* out = storage->data() + static_cast<size_t>(y) * width * c;
    for (int x = 0; x < width; ++x) {
      for (int k = 0; k < c; ++k) out[x * c + k] = in[src_x[x] * c + k];
    }
  }
  ImageView v;
  v.data = storage->data();
  v.width = width;
  v.height = height;
  v.channels = c;
  v.row_stride = static_cast<size_t>(width) * c;
  return v;
}

}  // namespace hashmatch
