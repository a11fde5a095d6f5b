# Build helpers, after Abseil's absl_cc_library: one small target per folder,
# files listed explicitly.
#
#   hashmatch_cc_library(NAME hashing HDRS a.h SRCS a.cc DEPS hashmatch::common)
#     defines target hashmatch_<NAME>, aliased hashmatch::<NAME>.
#   hashmatch_cc_test(NAME hashing_test SRCS a_test.cc DEPS hashmatch::hashing
#                     [LABELS unit] [TIMEOUT 300])
#     defines a GoogleTest binary registered with CTest.
function(hashmatch_cc_library)
  cmake_parse_arguments(HM "" "NAME" "HDRS;SRCS;DEPS" ${ARGN})
  add_library(hashmatch_${HM_NAME} STATIC ${HM_SRCS} ${HM_HDRS})
  add_library(hashmatch::${HM_NAME} ALIAS hashmatch_${HM_NAME})
  target_include_directories(hashmatch_${HM_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(hashmatch_${HM_NAME} PUBLIC ${HM_DEPS})
endfunction()

function(hashmatch_cc_test)
  cmake_parse_arguments(HM "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${HM_NAME} ${HM_SRCS})
  target_link_libraries(${HM_NAME} PRIVATE ${HM_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${HM_NAME} COMMAND ${HM_NAME})
  if(NOT HM_LABELS)
    set(HM_LABELS unit)
  endif()
  if(NOT HM_TIMEOUT)
    set(HM_TIMEOUT 300)
  endif()
  set_tests_properties(${HM_NAME} PROPERTIES LABELS "${HM_LABELS}" TIMEOUT ${HM_TIMEOUT})
endfunction()
