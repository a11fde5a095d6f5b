#include "src/video/video_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace {

// Demuxers that may run at all (AVFormatContext.format_whitelist).
constexpr char kFormatWhitelist[] =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,gif";
constexpr int kAvioBufferSize = 64 * 1024;
// Codecs whose keyframes reset all prediction, so that the packets between
// two keyframes can be left out (skip_unsampled_gops).
constexpr char kGopSkipCodecs[] =
    "h264,hevc,vp8,vp9,av1,mpeg4,mpeg1video,mpeg2video,msmpeg4v1,msmpeg4v2,"
    "msmpeg4v3,h263,mjpeg";
// A GOP longer than this is decoded whole instead of buffered.
constexpr size_t kMaxGopPackets = 1024;
// Tolerance when comparing a frame time with a sample time.
constexpr double kTimeEpsilon = 1e-6;
constexpr int kThumbSide = 32;
constexpr int kThumbCells = kThumbSide * kThumbSide;

using Clock = std::chrono::steady_clock;
using Thumb = std::array<uint8_t, kThumbCells>;

void SilenceFfmpegLogging() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_QUIET);
    av_log_set_callback([](void*, int, const char*, va_list) {});
  });
}

std::string AvErrorString(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

// The caller's bytes as an FFmpeg input, plus the decode deadline.
struct MemoryInput {
  const uint8_t* data = nullptr;
  int64_t size = 0;
  int64_t pos = 0;
  Clock::time_point deadline;
  bool deadline_hit = false;

  bool PastDeadline() {
    if (!deadline_hit && Clock::now() > deadline) deadline_hit = true;
    return deadline_hit;
  }
};

int ReadPacket(void* opaque, uint8_t* buf, int buf_size) {
  auto* in = static_cast<MemoryInput*>(opaque);
  const int64_t left = in->size - in->pos;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<int64_t>(left, buf_size));
  std::memcpy(buf, in->data + in->pos, n);
  in->pos += n;
  return n;
}

int64_t Seek(void* opaque, int64_t offset, int whence) {
  auto* in = static_cast<MemoryInput*>(opaque);
  whence &= ~AVSEEK_FORCE;
  int64_t target;
  switch (whence) {
    case AVSEEK_SIZE:
      return in->size;
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      target = in->pos + offset;
      break;
    case SEEK_END:
      target = in->size + offset;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (target < 0 || target > in->size) return AVERROR(EINVAL);
  in->pos = target;
  return target;
}

int Interrupt(void* opaque) {
  return static_cast<MemoryInput*>(opaque)->PastDeadline() ? 1 : 0;
}

struct AvioDeleter {
  void operator()(AVIOContext* ctx) const {
    if (ctx == nullptr) return;
    av_freep(&ctx->buffer);
    avio_context_free(&ctx);
  }
};
struct FormatDeleter {
  void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

absl::Status CheckSize(int w, int h, const VideoDecodeOptions& o,
                       absl::string_view what) {
  if (w <= 0 || h <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid video: ", what, " size ", w, "x", h));
  }
  if (w > o.max_width || h > o.max_height) {
    return absl::ResourceExhaustedError(
        absl::StrCat("video ", what, " size ", w, "x", h, " over the limit ",
                     o.max_width, "x", o.max_height));
  }
  if (int64_t{w} * h > o.max_pixels) {
    return absl::ResourceExhaustedError(
        absl::StrCat("video ", what, " has ", int64_t{w} * h,
                     " pixels, over the limit of ", o.max_pixels));
  }
  return absl::OkStatus();
}

// True when plane 0 of `fmt` is 8-bit luma, one byte per sample.
bool HasLumaPlane(AVPixelFormat fmt) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
  if (d == nullptr) return false;
  if (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL |
                  AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL)) {
    return false;
  }
  return d->comp[0].plane == 0 && d->comp[0].depth == 8 &&
         d->comp[0].step == 1 && d->comp[0].offset == 0;
}

// Everything one decode needs; torn down by the unique_ptrs.
class Decoder {
 public:
  Decoder(absl::string_view bytes, const VideoDecodeOptions& options)
      : options_(options) {
    input_.data = reinterpret_cast<const uint8_t*>(bytes.data());
    input_.size = static_cast<int64_t>(bytes.size());
    input_.deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(
                               std::max(0.0, options.max_decode_seconds)));
  }

  absl::StatusOr<VideoInfo> Run(SampledFrameCallback on_frame);

 private:
  absl::Status Open();
  absl::Status OpenCodec();
  absl::Status Feed(const AVPacket* packet, SampledFrameCallback on_frame);
  absl::Status OnDecoded(AVFrame* frame, SampledFrameCallback on_frame);
  absl::Status Emit(AVFrame* frame, int64_t number, double ts,
                    SampleReason reason, SampledFrameCallback on_frame);
  void MakeThumb(const AVFrame* frame, Thumb* thumb);
  absl::Status DeadlineError() const {
    return absl::DeadlineExceededError(absl::StrCat(
        "video decode took longer than ", options_.max_decode_seconds, " s"));
  }
  // Maps an FFmpeg error from the demuxer or decoder to our codes.
  absl::Status MapError(int err, absl::string_view what) {
    if (input_.PastDeadline() || err == AVERROR_EXIT) return DeadlineError();
    if (err == AVERROR(ENOMEM)) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, ": out of memory"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": truncated or corrupt video (", AvErrorString(err), ")"));
  }

  const VideoDecodeOptions& options_;
  MemoryInput input_;
  std::unique_ptr<AVIOContext, AvioDeleter> avio_;
  std::unique_ptr<AVFormatContext, FormatDeleter> format_;
  std::unique_ptr<AVCodecContext, CodecDeleter> codec_;
  std::unique_ptr<SwsContext, SwsDeleter> to_bgr_;
  std::unique_ptr<SwsContext, SwsDeleter> to_thumb_;
  std::vector<uint8_t> bgr_;
  std::vector<uint8_t> thumb_pixels_;
  int stream_index_ = -1;
  AVRational time_base_{1, 1};
  int64_t start_pts_ = AV_NOPTS_VALUE;
  double fps_ = 25;
  VideoInfo info_;
  int64_t decode_errors_ = 0;

  // GOP planning (skip_unsampled_gops): the packets since the last keyframe,
  // in decode order, with their pts (or dts).
  struct QueuedPacket {
    std::unique_ptr<AVPacket, PacketDeleter> packet;
    int64_t pts;
  };
  absl::Status FlushGop(bool feed_all, SampledFrameCallback on_frame);
  double Seconds(int64_t pts) const {
    const int64_t origin = start_pts_ != AV_NOPTS_VALUE ? start_pts_ : 0;
    return static_cast<double>(pts - origin) * av_q2d(time_base_);
  }
  std::vector<QueuedPacket> gop_;
  bool plan_gops_ = false;
  bool prev_gop_complete_ = true;
  double covered_until_ = -1e300;  // Sample times up to here are planned.

  // Frame numbering: pts of packets read and not yet passed by the output.
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>>
      pending_pts_;
  bool pts_numbering_ = true;
  int64_t frames_before_ = 0;  // Packets whose pts precede the last output.
  int64_t last_number_ = -1;   // The last decoded frame's number.

  // Sampling state. The interval grid is grid_origin_ + k * interval.
  bool have_first_ = false;
  bool have_grid_ = false;
  double grid_origin_ = 0;
  double next_sample_ts_ = 0;
  bool have_last_thumb_ = false;
  Thumb last_thumb_{};
  double last_ts_ = 0;
};

absl::Status Decoder::Open() {
  if (input_.size == 0) return absl::InvalidArgumentError("empty video input");
  if (static_cast<uint64_t>(input_.size) > options_.max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("video is ", input_.size, " bytes, over the limit of ",
                     options_.max_bytes));
  }
  auto* buffer = static_cast<uint8_t*>(av_malloc(kAvioBufferSize));
  if (buffer == nullptr) return absl::ResourceExhaustedError("out of memory");
  AVIOContext* avio = avio_alloc_context(buffer, kAvioBufferSize, 0, &input_,
                                         &ReadPacket, nullptr, &Seek);
  if (avio == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError("out of memory");
  }
  avio_.reset(avio);

  AVFormatContext* fmt = avformat_alloc_context();
  if (fmt == nullptr) return absl::ResourceExhaustedError("out of memory");
  fmt->pb = avio_.get();
  fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  fmt->interrupt_callback.callback = &Interrupt;
  fmt->interrupt_callback.opaque = &input_;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "format_whitelist", kFormatWhitelist, 0);
  av_dict_set(&opts, "codec_whitelist", options_.allowed_codecs.c_str(), 0);
  // On failure avformat_open_input frees fmt (not our AVIOContext).
  const int err = avformat_open_input(&fmt, nullptr, nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0) {
    if (input_.PastDeadline()) return DeadlineError();
    return absl::InvalidArgumentError(
        absl::StrCat("not a video in a supported container (mp4, mov, "
                     "webm, mkv, avi, gif): ",
                     AvErrorString(err)));
  }
  format_.reset(fmt);
  const int info_err = avformat_find_stream_info(fmt, nullptr);
  if (info_err < 0) return MapError(info_err, "reading stream info");

  info_.container = fmt->iformat->name;
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    info_.duration_seconds = static_cast<double>(fmt->duration) / AV_TIME_BASE;
    if (info_.duration_seconds > options_.max_duration_seconds) {
      return absl::ResourceExhaustedError(
          absl::StrCat("video declares ", info_.duration_seconds,
                       " s, over the duration limit of ",
                       options_.max_duration_seconds, " s"));
    }
  }
  stream_index_ =
      av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream_index_ == AVERROR_STREAM_NOT_FOUND) {
    return absl::InvalidArgumentError("no video stream in the container");
  }
  if (stream_index_ < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported codec: no decoder for the video stream (",
                     AvErrorString(stream_index_), ")"));
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index_) {
      fmt->streams[i]->discard = AVDISCARD_ALL;
    }
  }
  return OpenCodec();
}

absl::Status Decoder::OpenCodec() {
  AVStream* stream = format_->streams[stream_index_];
  const AVCodecParameters* par = stream->codecpar;
  const char* codec_name = avcodec_get_name(par->codec_id);
  info_.codec = codec_name;
  bool allowed = false;
  for (absl::string_view name :
       absl::StrSplit(options_.allowed_codecs, ',', absl::SkipEmpty())) {
    if (name == codec_name) allowed = true;
  }
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (!allowed || codec == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported codec: ", codec_name));
  }
  RETURN_IF_ERROR(CheckSize(par->width, par->height, options_, "stream"));
  info_.width = par->width;
  info_.height = par->height;

  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  if (ctx == nullptr) return absl::ResourceExhaustedError("out of memory");
  codec_.reset(ctx);
  int err = avcodec_parameters_to_context(ctx, par);
  if (err < 0) return MapError(err, "codec parameters");
  ctx->thread_count = std::max(1, options_.threads);
  ctx->max_pixels = options_.max_pixels;
  ctx->pkt_timebase = stream->time_base;
  if (options_.skip_nonref_frames && options_.sample_interval_seconds > 0) {
    ctx->skip_frame = AVDISCARD_NONREF;
  }
  if (options_.skip_loop_filter) ctx->skip_loop_filter = AVDISCARD_ALL;
  if (options_.skip_unsampled_gops && options_.sample_interval_seconds > 0) {
    for (absl::string_view name : absl::StrSplit(kGopSkipCodecs, ',')) {
      if (name == codec_name) plan_gops_ = true;
    }
  }
  err = avcodec_open2(ctx, codec, nullptr);
  if (err < 0) return MapError(err, "opening the decoder");

  time_base_ = stream->time_base;
  start_pts_ = stream->start_time;
  AVRational rate = stream->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = stream->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) fps_ = av_q2d(rate);
  return absl::OkStatus();
}

// swscale's SIMD output loops write whole vectors: with a row of w * 3 bytes
// that is not a multiple of the vector size they write past the row's end,
// and past the buffer after the last row (heap corruption measured on a
// 538x302 h264 clip: 1614-byte rows). Rows are therefore padded to 64 bytes
// and the buffer has 64 bytes of slack.
constexpr size_t kSwscaleAlign = 64;
size_t SwscaleStride(size_t row_bytes) {
  return (row_bytes + kSwscaleAlign - 1) / kSwscaleAlign * kSwscaleAlign;
}
size_t SwscaleBufferSize(size_t row_bytes, int rows) {
  return SwscaleStride(row_bytes) * static_cast<size_t>(rows) + kSwscaleAlign;
}

void Decoder::MakeThumb(const AVFrame* frame, Thumb* thumb) {
  const uint8_t* plane = nullptr;
  int stride = 0;
  int w = frame->width;
  int h = frame->height;
  if (HasLumaPlane(static_cast<AVPixelFormat>(frame->format))) {
    plane = frame->data[0];
    stride = frame->linesize[0];
  } else {
    // Palette or RGB frames (GIF): a small gray copy, then sample that.
    const int tw = std::min(w, 4 * kThumbSide);
    const int th = std::min(h, 4 * kThumbSide);
    to_thumb_.reset(sws_getCachedContext(
        to_thumb_.release(), w, h, static_cast<AVPixelFormat>(frame->format),
        tw, th, AV_PIX_FMT_GRAY8, SWS_AREA, nullptr, nullptr, nullptr));
    const int thumb_stride = static_cast<int>(SwscaleStride(tw));
    thumb_pixels_.resize(SwscaleBufferSize(tw, th));
    if (to_thumb_ == nullptr) {
      thumb->fill(0);
      return;
    }
    uint8_t* dst[4] = {thumb_pixels_.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {thumb_stride, 0, 0, 0};
    sws_scale(to_thumb_.get(), frame->data, frame->linesize, 0, h, dst,
              dst_stride);
    plane = thumb_pixels_.data();
    stride = thumb_stride;
    w = tw;
    h = th;
  }
  for (int cy = 0; cy < kThumbSide; ++cy) {
    const int y0 =
        static_cast<int>((int64_t{2 * cy + 1} * h) / (2 * kThumbSide));
    const int y1 = std::min(h - 1, y0 + 1);
    const uint8_t* r0 = plane + static_cast<ptrdiff_t>(stride) * y0;
    const uint8_t* r1 = plane + static_cast<ptrdiff_t>(stride) * y1;
    for (int cx = 0; cx < kThumbSide; ++cx) {
      const int x0 =
          static_cast<int>((int64_t{2 * cx + 1} * w) / (2 * kThumbSide));
      const int x1 = std::min(w - 1, x0 + 1);
      (*thumb)[cy * kThumbSide + cx] =
          static_cast<uint8_t>((r0[x0] + r0[x1] + r1[x0] + r1[x1] + 2) / 4);
    }
  }
}

absl::Status Decoder::Emit(AVFrame* frame, int64_t number, double ts,
                           SampleReason reason, SampledFrameCallback on_frame) {
  const int w = frame->width;
  const int h = frame->height;
  to_bgr_.reset(sws_getCachedContext(
      to_bgr_.release(), w, h, static_cast<AVPixelFormat>(frame->format), w, h,
      AV_PIX_FMT_BGR24, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (to_bgr_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported pixel format ",
        av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format))
            ? av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format))
            : "?"));
  }
  const size_t stride = SwscaleStride(static_cast<size_t>(w) * 3);
  bgr_.resize(SwscaleBufferSize(static_cast<size_t>(w) * 3, h));
  uint8_t* dst[4] = {bgr_.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(stride), 0, 0, 0};
  sws_scale(to_bgr_.get(), frame->data, frame->linesize, 0, h, dst, dst_stride);
  SampledFrame out;
  out.frame_number = number;
  out.timestamp_seconds = ts;
  out.reason = reason;
  out.image.data = bgr_.data();
  out.image.width = w;
  out.image.height = h;
  out.image.channels = 3;
  out.image.row_stride = stride;
  ++info_.frames_sampled;
  if (reason == SampleReason::kSceneChange) ++info_.scene_changes;
  return on_frame(out);
}

absl::Status Decoder::OnDecoded(AVFrame* frame, SampledFrameCallback on_frame) {
  RETURN_IF_ERROR(CheckSize(frame->width, frame->height, options_, "frame"));
  const int64_t decoded_index = info_.frames_decoded++;
  const int64_t pts = frame->best_effort_timestamp;

  int64_t number = decoded_index;
  if (pts_numbering_ && pts != AV_NOPTS_VALUE) {
    while (!pending_pts_.empty() && pending_pts_.top() < pts) {
      pending_pts_.pop();
      ++frames_before_;
    }
    number = frames_before_;
    if (!pending_pts_.empty() && pending_pts_.top() == pts) {
      pending_pts_.pop();
      ++frames_before_;
    }
  }
  // A damaged stream can mix frames with and without timestamps (a frame
  // without one is numbered by its decode index, possibly past the
  // timestamp-based numbers) or repeat a timestamp: numbers still increase,
  // as SampledFrame promises. A well-formed stream never takes this branch.
  if (number <= last_number_) number = last_number_ + 1;
  last_number_ = number;

  double ts;
  if (pts != AV_NOPTS_VALUE) {
    ts = Seconds(pts);
  } else {
    ts = static_cast<double>(number) / fps_;
  }
  if (ts > options_.max_duration_seconds) {
    return absl::ResourceExhaustedError(
        absl::StrCat("video runs past the duration limit of ",
                     options_.max_duration_seconds, " s"));
  }
  last_ts_ = std::max(last_ts_, ts);

  const double interval = options_.sample_interval_seconds;
  bool sample_interval = false;
  if (!have_first_) {
    have_first_ = true;
    if (!have_grid_) {
      have_grid_ = true;
      grid_origin_ = ts;
    }
    sample_interval = true;
  } else if (interval <= 0 || ts >= next_sample_ts_ - kTimeEpsilon) {
    sample_interval = true;
  }
  if (sample_interval && interval > 0) {
    next_sample_ts_ =
        grid_origin_ +
        interval *
            (std::floor((ts - grid_origin_ + kTimeEpsilon) / interval) + 1);
  }

  const bool scene_on = options_.scene_change_threshold > 0;
  Thumb thumb;
  bool scene = false;
  if (scene_on) {
    MakeThumb(frame, &thumb);
    if (have_last_thumb_ && !sample_interval) {
      int64_t sum = 0;
      for (int i = 0; i < kThumbCells; ++i) {
        sum += std::abs(int{thumb[i]} - int{last_thumb_[i]});
      }
      scene = static_cast<double>(sum) / kThumbCells >
              options_.scene_change_threshold;
    }
  }
  if (!sample_interval && !scene) return absl::OkStatus();
  if (scene_on) {
    last_thumb_ = thumb;
    have_last_thumb_ = true;
  }
  return Emit(
      frame, number, ts,
      sample_interval ? SampleReason::kInterval : SampleReason::kSceneChange,
      on_frame);
}

absl::Status Decoder::Feed(const AVPacket* packet,
                           SampledFrameCallback on_frame) {
  if (input_.PastDeadline()) return DeadlineError();
  int err = avcodec_send_packet(codec_.get(), packet);
  if (err < 0 && err != AVERROR(EAGAIN) && err != AVERROR_EOF) {
    // A damaged packet: keep going; the end checks that something decoded.
    if (err == AVERROR(ENOMEM)) return MapError(err, "decoding");
    ++decode_errors_;
  }
  std::unique_ptr<AVFrame, FrameDeleter> frame(av_frame_alloc());
  if (frame == nullptr) return absl::ResourceExhaustedError("out of memory");
  while (true) {
    err = avcodec_receive_frame(codec_.get(), frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) break;
    if (err < 0) {
      if (err == AVERROR(ENOMEM)) return MapError(err, "decoding");
      ++decode_errors_;
      break;
    }
    absl::Status s = OnDecoded(frame.get(), on_frame);
    av_frame_unref(frame.get());
    RETURN_IF_ERROR(s);
  }
  return absl::OkStatus();
}

// Decodes the buffered GOP, or only the part of it that sampling needs: the
// keyframe (for scene detection) and every packet up to, in decode order, the
// last frame that is the first at or after an interval sample time. Leading
// pictures (shown before the keyframe) are left out when the previous GOP was
// cut short, since they may predict from it.
absl::Status Decoder::FlushGop(bool feed_all, SampledFrameCallback on_frame) {
  if (gop_.empty()) return absl::OkStatus();
  const size_t n = gop_.size();
  std::vector<bool> feed(n, true);
  const bool starts_with_key = (gop_[0].packet->flags & AV_PKT_FLAG_KEY) != 0;
  double end = -1e300;
  double begin = 1e300;
  for (const QueuedPacket& q : gop_) {
    end = std::max(end, Seconds(q.pts));
    begin = std::min(begin, Seconds(q.pts));
  }
  if (!have_grid_) {
    have_grid_ = true;
    grid_origin_ = begin;
  }
  if (!feed_all && starts_with_key) {
    const double interval = options_.sample_interval_seconds;
    const double key_ts = Seconds(gop_[0].pts);
    int64_t k =
        covered_until_ < grid_origin_
            ? 0
            : static_cast<int64_t>(std::floor(
                  (covered_until_ - grid_origin_ + kTimeEpsilon) / interval)) +
                  1;
    // Index (decode order) of the last packet needed; -1 for none.
    int64_t last = options_.scene_change_threshold > 0 ? 0 : -1;
    for (;; ++k) {
      const double sample = grid_origin_ + static_cast<double>(k) * interval;
      if (sample > end + kTimeEpsilon) break;
      int64_t best = -1;
      double best_ts = 0;
      for (size_t i = 0; i < n; ++i) {
        const double t = Seconds(gop_[i].pts);
        if (t >= sample - kTimeEpsilon && (best < 0 || t < best_ts)) {
          best = static_cast<int64_t>(i);
          best_ts = t;
        }
      }
      last = std::max(last, best);
    }
    for (size_t i = 0; i < n; ++i) {
      const bool leading = i > 0 && Seconds(gop_[i].pts) < key_ts;
      feed[i] =
          static_cast<int64_t>(i) <= last && !(leading && !prev_gop_complete_);
    }
  }
  bool complete = true;
  for (size_t i = 0; i < n; ++i) {
    if (!feed[i]) {
      complete = false;
      continue;
    }
    RETURN_IF_ERROR(Feed(gop_[i].packet.get(), on_frame));
  }
  prev_gop_complete_ = complete;
  covered_until_ = std::max(covered_until_, end);
  gop_.clear();
  return absl::OkStatus();
}

absl::StatusOr<VideoInfo> Decoder::Run(SampledFrameCallback on_frame) {
  RETURN_IF_ERROR(Open());
  std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
  if (packet == nullptr) return absl::ResourceExhaustedError("out of memory");
  while (true) {
    if (input_.PastDeadline()) return DeadlineError();
    const int err = av_read_frame(format_.get(), packet.get());
    if (err == AVERROR_EOF) break;
    if (err < 0) {
      if (input_.PastDeadline() || err == AVERROR_EXIT) return DeadlineError();
      if (info_.frames_decoded > 0 && err != AVERROR(ENOMEM)) {
        // Damage after good frames (e.g. a cut-off tail): keep what decoded.
        break;
      }
      return MapError(err, "reading the container");
    }
    if (packet->stream_index != stream_index_) {
      av_packet_unref(packet.get());
      continue;
    }
    if (++info_.packets_read > options_.max_frames) {
      return absl::ResourceExhaustedError(
          absl::StrCat("video has more than ", options_.max_frames,
                       " frames (the frame limit)"));
    }
    const int64_t key =
        packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    if (key == AV_NOPTS_VALUE) {
      pts_numbering_ = false;
    } else {
      pending_pts_.push(key);
    }
    if (plan_gops_ && key == AV_NOPTS_VALUE) {
      // Cannot place this packet in time: decode everything from here on.
      RETURN_IF_ERROR(FlushGop(/*feed_all=*/true, on_frame));
      plan_gops_ = false;
    }
    if (!plan_gops_) {
      absl::Status s = Feed(packet.get(), on_frame);
      av_packet_unref(packet.get());
      RETURN_IF_ERROR(s);
      continue;
    }
    if ((packet->flags & AV_PKT_FLAG_KEY) && !gop_.empty()) {
      RETURN_IF_ERROR(FlushGop(/*feed_all=*/false, on_frame));
    }
    QueuedPacket q{std::unique_ptr<AVPacket, PacketDeleter>(av_packet_alloc()),
                   key};
    if (q.packet == nullptr) {
      return absl::ResourceExhaustedError("out of memory");
    }
    av_packet_move_ref(q.packet.get(), packet.get());
    gop_.push_back(std::move(q));
    if (gop_.size() >= kMaxGopPackets) {
      RETURN_IF_ERROR(FlushGop(/*feed_all=*/true, on_frame));
    }
  }
  RETURN_IF_ERROR(FlushGop(/*feed_all=*/false, on_frame));
  RETURN_IF_ERROR(Feed(nullptr, on_frame));
  if (info_.frames_decoded == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated or corrupt video: no frame could be decoded (",
                     info_.packets_read, " video packets, ", decode_errors_,
                     " decode errors)"));
  }
  if (info_.duration_seconds <= 0) info_.duration_seconds = last_ts_;
  return info_;
}

}  // namespace

absl::StatusOr<VideoInfo> DecodeVideo(absl::string_view bytes,
                                      const VideoDecodeOptions& options,
                                      SampledFrameCallback on_frame) {
  SilenceFfmpegLogging();
  Decoder decoder(bytes, options);
  return decoder.Run(on_frame);
}

}  // namespace hashmatch
