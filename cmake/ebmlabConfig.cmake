# find_package(ebmlab) for out-of-tree plugins (docs/writing-a-plugin.md):
#   find_package(ebmlab REQUIRED)
#   ebmlab_add_plugin(my_sampler SOURCES my_sampler.cpp)
#   ebmlab_add_plugin_test(my_sampler SOURCES test_my_sampler.cpp)   # ctest runs it
include(CMakeFindDependencyMacro)
find_dependency(Torch)
include(${CMAKE_CURRENT_LIST_DIR}/ebmlabTargets.cmake)

# LibTorch's headers take most of a plugin's compile time (20-40 s per file). With
# EBMLAB_PLUGIN_PCH (on by default) torch/torch.h and the SDK are precompiled once per
# project, in the first build, and every plugin and test reuses that header: after it, a
# one-line edit recompiles in seconds.
option(EBMLAB_PLUGIN_PCH "precompile torch/torch.h and the SDK once for all plugins of the project" ON)

function(_ebmlab_use_pch target)
  if(NOT EBMLAB_PLUGIN_PCH)
    return()
  endif()
  if(NOT TARGET ebmlab_plugin_pch)
    set(src ${CMAKE_BINARY_DIR}/ebmlab_plugin_pch.cpp)
    if(NOT EXISTS ${src})
      file(WRITE ${src} "// the translation unit of the plugins' precompiled header\n")
    endif()
    add_library(ebmlab_plugin_pch OBJECT ${src})
    target_compile_features(ebmlab_plugin_pch PRIVATE cxx_std_17)
    target_link_libraries(ebmlab_plugin_pch PRIVATE ebmlab::ebmlab_core ${TORCH_LIBRARIES})
    set_target_properties(ebmlab_plugin_pch PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden)
    target_precompile_headers(ebmlab_plugin_pch PRIVATE <torch/torch.h> <ebmlab/ebmlab.hpp>)
  endif()
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden)
  target_precompile_headers(${target} REUSE_FROM ebmlab_plugin_pch)
endfunction()

# ebmlab_add_plugin(NAME SOURCES a.cpp ...): the plugin library libebmlab_NAME.so.
function(ebmlab_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  target_compile_features(${name} PRIVATE cxx_std_17)
  target_link_libraries(${name} PRIVATE ebmlab::ebmlab_core ${TORCH_LIBRARIES})
  set_target_properties(${name} PROPERTIES PREFIX "libebmlab_" CXX_VISIBILITY_PRESET hidden)
  _ebmlab_use_pch(${name})
endfunction()

# ebmlab_add_plugin_test(PLUGIN SOURCES test.cpp ...): a doctest executable test_PLUGIN
# linked with the testing library (ebmlab/testing.hpp: the harness and the conformance
# checks), registered with ctest as PLUGIN.tests. It runs with EBMLAB_PLUGIN_PATH set to
# the plugin's build folder, so ebm::testing finds the plugins built there beside ebmlab's own.
# Needs doctest (Debian: doctest-dev).
# (A macro: enable_testing() must run in the calling directory, where ctest looks.)
macro(ebmlab_add_plugin_test plugin)
  enable_testing()
  _ebmlab_add_plugin_test(${plugin} ${ARGN})
endmacro()

function(_ebmlab_add_plugin_test plugin)
  cmake_parse_arguments(T "" "" "SOURCES" ${ARGN})
  find_package(doctest REQUIRED)
  set(main ${CMAKE_CURRENT_BINARY_DIR}/ebmlab_test_main.cpp)
  if(NOT EXISTS ${main})
    file(WRITE ${main} "#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN\n#include <doctest/doctest.h>\n")
  endif()
  add_executable(test_${plugin} ${main} ${T_SOURCES})
  target_compile_features(test_${plugin} PRIVATE cxx_std_17)
  target_link_libraries(test_${plugin} PRIVATE ebmlab::ebmlab_testing ebmlab::ebmlab_core doctest::doctest ${TORCH_LIBRARIES})
  add_dependencies(test_${plugin} ${plugin})
  if(Torch_VERSION VERSION_GREATER_EQUAL 2)  # libstdc++ before a pip libtorch.so (ebmlab's CMakeLists.txt says why)
    target_link_options(test_${plugin} PRIVATE "LINKER:--push-state,--no-as-needed" -lstdc++ "LINKER:--pop-state")
  endif()
  if(EBMLAB_PLUGIN_PCH)
    target_compile_options(test_${plugin} PRIVATE -fPIC)  # as the shared header was compiled
    target_precompile_headers(test_${plugin} REUSE_FROM ebmlab_plugin_pch)
  endif()
  add_test(NAME ${plugin}.tests COMMAND test_${plugin})
  set_tests_properties(${plugin}.tests PROPERTIES ENVIRONMENT "EBMLAB_PLUGIN_PATH=$<TARGET_FILE_DIR:${plugin}>")
endfunction()
