#include "src/common/stderr_capture.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#include <sanitizer/common_interface_defs.h>
#endif

extern char** environ;

namespace hashmatch {
namespace {

std::string ReadAll(const std::string& path) {
  std::string text;
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) return text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  fclose(f);
  return text;
}

void WriteFd(int fd, absl::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ADD_FAILURE() << "write failed: " << errno;
      return;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// Collects the lines a capture delivers.
struct Lines {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;  // GUARDED_BY(mu)

  std::function<void(absl::string_view)> Callback() {
    return [this](absl::string_view line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.emplace_back(line);
      cv.notify_all();
    };
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return lines;
  }
  // Waits (at most 60 s, then fails) until `line` has been delivered.
  bool WaitFor(const std::string& line) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(60), [&] {
      for (const std::string& l : lines) {
        if (l == line) return true;
      }
      return false;
    });
  }
};

// Each test runs with fd 2 pointing at a file of its own (restored after),
// so what reaches "the original stderr" can be read back.
class StderrCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::fflush(stderr);
    path_ = absl::StrCat(::testing::TempDir(), "/stderr_capture_test_",
                         getpid(), ".txt");
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    saved_ = dup(STDERR_FILENO);
    ASSERT_GE(saved_, 0);
    ASSERT_EQ(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
  }
  void TearDown() override {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    std::remove(path_.c_str());
  }
  std::string FileText() { return ReadAll(path_); }

  std::string path_;
  int saved_ = -1;
};

TEST_F(StderrCaptureTest, DeliversLinesInOrderAndRestoresStderr) {
  Lines lines;
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
      StderrCapture::Start(lines.Callback());
  ASSERT_TRUE(capture.ok()) << capture.status();
  StderrCapture& c = **capture;
  // Raw writes, stdio and iostreams all go through fd 2.
  WriteFd(STDERR_FILENO, "first\n\nthird");
  WriteFd(STDERR_FILENO, " continued\n");
  std::fprintf(stderr, "from stdio %d\n", 4);
  std::cerr << "from cerr" << std::endl;
  WriteFd(STDERR_FILENO, "partial, no newline");
  // Output that must still reach the terminal.
  WriteFd(c.original_fd(), "to the original\n");
  c.Stop();
  EXPECT_EQ(lines.Get(), (std::vector<std::string>{
                             "first", "", "third continued", "from stdio 4",
                             "from cerr", "partial, no newline"}));
  // fd 2 is the file again: nothing more reaches the callback.
  WriteFd(STDERR_FILENO, "after stop\n");
  std::fprintf(stderr, "stdio after stop\n");
  std::fflush(stderr);
  EXPECT_EQ(lines.Get().size(), 6u);
  EXPECT_EQ(FileText(), "to the original\nafter stop\nstdio after stop\n");
  c.Stop();  // Idempotent.
  EXPECT_EQ(lines.Get().size(), 6u);
}

TEST_F(StderrCaptureTest, OriginalFdIsTheFormerStderr) {
  struct stat before;
  ASSERT_EQ(fstat(STDERR_FILENO, &before), 0);
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
      StderrCapture::Start([](absl::string_view) {});
  ASSERT_TRUE(capture.ok()) << capture.status();
  struct stat during, original;
  ASSERT_EQ(fstat(STDERR_FILENO, &during), 0);
  ASSERT_EQ(fstat((*capture)->original_fd(), &original), 0);
  EXPECT_TRUE(S_ISFIFO(during.st_mode));
  EXPECT_EQ(original.st_ino, before.st_ino);
  EXPECT_EQ(original.st_dev, before.st_dev);
  // Close-on-exec: children do not inherit the saved copy.
  EXPECT_NE(fcntl((*capture)->original_fd(), F_GETFD) & FD_CLOEXEC, 0);
  capture->reset();  // The destructor stops.
  struct stat after;
  ASSERT_EQ(fstat(STDERR_FILENO, &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_dev, before.st_dev);
}

TEST_F(StderrCaptureTest, LongLinesArriveInChunksOfAtMost4KiB) {
  Lines lines;
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
      StderrCapture::Start(lines.Callback());
  ASSERT_TRUE(capture.ok()) << capture.status();
  WriteFd(STDERR_FILENO, std::string(10000, 'a') + "\n" +
                             std::string(4096, 'b') + "\n" +
                             std::string(4097, 'c') + "\nend\n");
  // Exactly 4096 bytes with the newline in a later read: one line, no empty
  // line after it. Wait until the reader has taken the 4096 bytes (the pipe
  // is empty) before the newline is written.
  WriteFd(STDERR_FILENO, std::string(4096, 'd'));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int queued = 1; queued > 0;) {
    ASSERT_EQ(ioctl(STDERR_FILENO, FIONREAD, &queued), 0);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::yield();
  }
  WriteFd(STDERR_FILENO, "\nlast");
  (*capture)->Stop();
  EXPECT_EQ(lines.Get(), (std::vector<std::string>{
                             std::string(4096, 'a'), std::string(4096, 'a'),
                             std::string(1808, 'a'), std::string(4096, 'b'),
                             std::string(4096, 'c'), "c", "end",
                             std::string(4096, 'd'), "last"}));
}

TEST_F(StderrCaptureTest, ManyWritersNeverBlockForGood) {
  // 4 threads write 16 MiB in lines of up to 4 KiB (one write each, so
  // lines stay whole), far more than the pipe holds: writers wait on the
  // full pipe, the reader drains it, nobody deadlocks and nothing is lost.
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 2000;
  std::mutex mu;
  int64_t count = 0, bytes = 0, bad = 0;
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
      StderrCapture::Start([&](absl::string_view line) {
        std::lock_guard<std::mutex> lock(mu);
        ++count;
        bytes += static_cast<int64_t>(line.size());
        // "T<thread>:" then filler of one letter.
        if (line.size() < 3 || line[0] != 'T' ||
            line.find_first_not_of(line.back(), 3) != absl::string_view::npos) {
          ++bad;
        }
      });
  ASSERT_TRUE(capture.ok()) << capture.status();
  int64_t expected_bytes = 0;
  for (int i = 0; i < kLinesPerThread; ++i) {
    expected_bytes += kThreads * (3 + (i * 37) % 4000);
  }
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t] {
      for (int i = 0; i < kLinesPerThread; ++i) {
        std::string line = absl::StrCat("T", t, ":");
        line.append(static_cast<size_t>((i * 37) % 4000),
                    static_cast<char>('a' + t));
        line += '\n';
        WriteFd(STDERR_FILENO, line);
      }
    });
  }
  for (std::thread& w : writers) w.join();
  (*capture)->Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(count, kThreads * kLinesPerThread);
  EXPECT_EQ(bytes, expected_bytes);
  EXPECT_EQ(bad, 0);
}

TEST_F(StderrCaptureTest, OneCaptureAtATime) {
  absl::StatusOr<std::unique_ptr<StderrCapture>> first =
      StderrCapture::Start([](absl::string_view) {});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<StderrCapture>> second =
      StderrCapture::Start([](absl::string_view) {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  (*first)->Stop();
  Lines lines;
  second = StderrCapture::Start(lines.Callback());
  ASSERT_TRUE(second.ok()) << second.status();
  WriteFd(STDERR_FILENO, "again\n");
  second->reset();
  EXPECT_EQ(lines.Get(), std::vector<std::string>{"again"});
}

TEST_F(StderrCaptureTest, StopsEvenWhenAChildKeepsThePipeOpen) {
  Lines lines;
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
      StderrCapture::Start(lines.Callback());
  ASSERT_TRUE(capture.ok()) << capture.status();
  // The child inherits fd 2 (the pipe), writes a line, then holds it open.
  std::vector<std::string> args = {"/bin/sh", "-c",
                                   "echo from the child >&2; exec sleep 60"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ),
            0);
  EXPECT_TRUE(lines.WaitFor("from the child"));
  const auto start = std::chrono::steady_clock::now();
  (*capture)->Stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  // Bounded by kChildDrainMillis (0.2 s), not by the child's 60 s; the
  // margin is for a loaded machine.
  EXPECT_LT(seconds, 30.0);
  EXPECT_EQ(lines.Get(), std::vector<std::string>{"from the child"});
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// A sanitizer report written while capturing goes to the original stderr
// at once, not into the pipe (where it would be lost if the process died).
TEST_F(StderrCaptureTest, SanitizerReportsBypassThePipe) {
  Lines lines;
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
      StderrCapture::Start(lines.Callback());
  ASSERT_TRUE(capture.ok()) << capture.status();
  __sanitizer_report_error_summary("stderr-capture-probe");
  EXPECT_NE(FileText().find("stderr-capture-probe"), std::string::npos);
  (*capture)->Stop();
  EXPECT_TRUE(lines.Get().empty());
}
#endif

TEST(ClassifyLibraryMessageTest, RecognisesLibrariesAndKeepsASafePrefix) {
  struct Case {
    const char* line;
    const char* library;
    const char* summary;
  };
  const Case cases[] = {
      {"libpng warning: iCCP: known incorrect sRGB profile", "libpng",
       "libpng warning: iCCP: known incorrect sRGB profile"},
      // The profile name comes from the image: cut at its quote.
      {"libpng warning: iCCP: profile 'Evil\x1b[31m name': 0h: PCS illuminant "
       "is not D50",
       "libpng", "libpng warning: iCCP: profile"},
      {"libpng error: IDAT: CRC error", "libpng",
       "libpng error: IDAT: CRC error"},
      {"Corrupt JPEG data: 123 extraneous bytes before marker 0xd9", "libjpeg",
       "Corrupt JPEG data: 123 extraneous bytes before marker 0xd9"},
      {"Premature end of JPEG file", "libjpeg", "Premature end of JPEG file"},
      {"Warning: unknown JFIF revision number 3.01", "libjpeg",
       "Warning: unknown JFIF revision number 3.01"},
      {"TIFFReadDirectory: Warning, Unknown field with tag 50706 (0xc612) "
       "encountered.",
       "libtiff", "TIFFReadDirectory: Warning, Unknown field with tag 50706"},
      {"_TIFFVSetField: Bad value 9 for \"Orientation\" tag", "libtiff",
       "_TIFFVSetField: Bad value 9 for"},
      {"libwebp: decoding failed", "libwebp", "libwebp: decoding failed"},
      // OpenCV: the thread and time tag is dropped.
      {"[ WARN:0@0.015] global loadsave.cpp:244 findDecoder imread_('/x.png'): "
       "can't open/read file",
       "opencv", "WARN: global loadsave.cpp:244 findDecoder imread_"},
      {"[ WARN:3@12.750] global loadsave.cpp:244 findDecoder imread_('/y.png')",
       "opencv", "WARN: global loadsave.cpp:244 findDecoder imread_"},
      {"[ERROR:0@1.2] global grfmt_png.cpp:100 readData bad PNG", "opencv",
       "ERROR: global grfmt_png.cpp:100 readData bad PNG"},
      {"[ WARN:0] old style", "opencv", "WARN: old style"},
      // FFmpeg: the context's address is dropped.
      {"[mjpeg @ 0x55d5c8e0a0c0] unable to decode APP fields: Invalid data "
       "found when processing input",
       "ffmpeg",
       "mjpeg: unable to decode APP fields: Invalid data found when processing "
       "input"},
      {"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5581aa] moov atom not found", "ffmpeg",
       "mov,mp4,m4a,3gp,3g2,mj2: moov atom not found"},
      // Trimmed; bytes outside the safe set end the summary.
      {"libpng warning: trailing   ", "libpng", "libpng warning: trailing"},
      {"libpng warning: iCCP: \xff\xfe\x01", "libpng", "libpng warning: iCCP:"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    std::optional<LibraryMessage> m = ClassifyLibraryMessage(c.line);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->library, c.library);
    EXPECT_EQ(m->summary, c.summary);
  }
}

TEST(ClassifyLibraryMessageTest, SummaryIsAtMost80Bytes) {
  const std::string line = "libpng warning: " + std::string(200, 'a') + "\"x";
  std::optional<LibraryMessage> m = ClassifyLibraryMessage(line);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->summary, line.substr(0, 80));
  // Cut at 80 bytes, then trimmed.
  m = ClassifyLibraryMessage("libpng warning:" + std::string(100, ' ') + "x");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->summary, "libpng warning:");
}

TEST(ClassifyLibraryMessageTest, OtherLinesAreNotLibraryMessages) {
  for (const char* line : {
           "",
           "hashmatch eval: 50/100 originals",
           "libpng",                  // No message.
           "Premature",               // Not a whole libjpeg message.
           "/tmp/x.tif: Warning, x",  // libtiff with a file name as module.
           "TIFFs are fine",
           "[INFO] no thread tag",
           "[1/4] Building CXX object",
           "[ NOTE:0@1.0] unknown level",
           "[x @ 0xZZ] not an address",
           "[x y @ 0x1234] space in the name",
           "[mjpeg @ 0x1234 no bracket",
       }) {
    EXPECT_FALSE(ClassifyLibraryMessage(line).has_value()) << line;
  }
}

}  // namespace
}  // namespace hashmatch
