# Shared compile settings: every target links tollgate_flags.
add_library(tollgate_flags INTERFACE)
target_compile_options(tollgate_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wformat=2 -Wimplicit-fallthrough
  # Designated initializers that rely on member defaults are intended.
  -Wno-missing-field-initializers)
target_compile_definitions(tollgate_flags INTERFACE
  TOLLGATE_VERSION="${PROJECT_VERSION}" _FILE_OFFSET_BITS=64)
target_include_directories(tollgate_flags INTERFACE ${PROJECT_SOURCE_DIR})
if(TOLLGATE_WERROR)
  target_compile_options(tollgate_flags INTERFACE -Werror)
endif()
if(TOLLGATE_SANITIZE STREQUAL "thread")
  target_compile_options(tollgate_flags INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(tollgate_flags INTERFACE -fsanitize=thread)
elseif(TOLLGATE_SANITIZE STREQUAL "address" OR TOLLGATE_SANITIZE)
  target_compile_options(tollgate_flags INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(tollgate_flags INTERFACE -fsanitize=address,undefined)
endif()

# tollgate_library(NAME SOURCES ... DEPS ...): one static library per folder.
function(tollgate_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC tollgate_flags ${ARG_DEPS})
endfunction()

# tollgate_test(NAME SOURCES ... DEPS ... [ARGS ...] [LABELS ...] [LAUNCHER ...]):
# a doctest binary registered with ctest (run with ARGS, e.g. a suite filter,
# after LAUNCHER, e.g. `unshare -m -p --fork --mount-proc` for a pid namespace
# of its own). Tests labelled "root" need root and fanotify.
function(tollgate_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;ARGS;LABELS;LAUNCHER" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE tollgate_test_main ${ARG_DEPS})
  tollgate_test_run(${name} ${name} ARGS ${ARG_ARGS} LABELS ${ARG_LABELS} TIMEOUT ${ARG_TIMEOUT}
                    LAUNCHER ${ARG_LAUNCHER})
endfunction()

# tollgate_test_run(NAME BINARY [ARGS ...] [LABELS ...] [TIMEOUT S] [LAUNCHER ...]):
# one more ctest entry for a test binary, e.g. its root-only suite.
function(tollgate_test_run name binary)
  cmake_parse_arguments(ARG "" "TIMEOUT" "ARGS;LABELS;LAUNCHER" ${ARGN})
  if(ARG_LAUNCHER)
    add_test(NAME ${name} COMMAND ${ARG_LAUNCHER} $<TARGET_FILE:${binary}> ${ARG_ARGS})
  else()
    add_test(NAME ${name} COMMAND ${binary} ${ARG_ARGS})
  endif()
  # A suite filter that matches nothing must not pass silently.
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "TOLLGATE_BUILD_DIR=${PROJECT_BINARY_DIR};TOLLGATE_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    FAIL_REGULAR_EXPRESSION "\\[doctest\\] test cases: +0 \\|")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  set(timeout 300)
  if(ARG_TIMEOUT)
    set(timeout ${ARG_TIMEOUT})
  endif()
  if(TOLLGATE_SANITIZE STREQUAL "thread")
    math(EXPR timeout "${timeout} * 4")  # TSan runs several times slower
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout})
endfunction()

# tollgate_linked_modules(TARGET OUT): the tollgate_* libraries TARGET links,
# directly or through another library (LINK_LIBRARIES and
# INTERFACE_LINK_LIBRARIES, transitively).
function(tollgate_linked_modules target out)
  set(seen "")
  set(queue ${target})
  while(queue)
    list(POP_FRONT queue current)
    if(NOT TARGET ${current})
      continue()
    endif()
    get_target_property(direct ${current} LINK_LIBRARIES)
    get_target_property(iface ${current} INTERFACE_LINK_LIBRARIES)
    foreach(dep IN LISTS direct iface)
      if(dep MATCHES "^tollgate_" AND NOT dep STREQUAL "tollgate_flags" AND NOT dep IN_LIST seen)
        list(APPEND seen ${dep})
        list(APPEND queue ${dep})
      endif()
    endforeach()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

# tollgate_check_arrows(TARGET MODULE): fails the configure step when TARGET
# links a module library that MODULE may not use (cmake/modules.cmake).
function(tollgate_check_arrows target module)
  set(allowed "")
  foreach(dep IN LISTS TOLLGATE_MODULE_DEPS_${module})
    list(APPEND allowed ${TOLLGATE_MODULE_TARGET_${dep}})
  endforeach()
  list(APPEND allowed ${TOLLGATE_MODULE_TARGET_${module}})
  tollgate_linked_modules(${target} linked)
  foreach(dep IN LISTS linked)
    if(NOT dep IN_LIST allowed)
      message(FATAL_ERROR "${target} links ${dep}, which ${module}/ may not use (cmake/modules.cmake)")
    endif()
  endforeach()
endfunction()
