# The module map: which folder (one static library each) may use which.
# Arrows point one way: common <- hashdb <- policy <- {config, census <-
# eventlog, control} <- enforcer / tools, and common <- miner <- {census,
# eventlog, enforcer, tools} (detection signals and the content scan need no
# policy). census (what fanotify cannot see) is to the left of eventlog,
# which writes its findings. Read by
# the configure-time link check (tollgate_check_arrows, CMakeLists.txt) and
# by the include check that ctest runs (cmake/check_includes.cmake), so the
# two cannot disagree.
set(TOLLGATE_MODULES common miner hashdb policy census config eventlog control enforcer tools)
set(TOLLGATE_MODULE_DEPS_common "")
set(TOLLGATE_MODULE_DEPS_miner common)
set(TOLLGATE_MODULE_DEPS_hashdb common)
set(TOLLGATE_MODULE_DEPS_policy hashdb common)
# What fanotify cannot see (issue 10): mount tables, /proc, the census walk.
set(TOLLGATE_MODULE_DEPS_census policy miner hashdb common)
set(TOLLGATE_MODULE_DEPS_config policy hashdb common)
set(TOLLGATE_MODULE_DEPS_eventlog census policy miner hashdb common)
set(TOLLGATE_MODULE_DEPS_control policy hashdb common)
set(TOLLGATE_MODULE_DEPS_enforcer config eventlog control census policy miner hashdb common)
# The admin CLI never links the fanotify engine.
set(TOLLGATE_MODULE_DEPS_tools config control eventlog census policy miner hashdb common)
# The CMake library of each folder.
set(TOLLGATE_MODULE_TARGET_common tollgate_common)
set(TOLLGATE_MODULE_TARGET_miner tollgate_miner)
set(TOLLGATE_MODULE_TARGET_hashdb tollgate_hashdb)
set(TOLLGATE_MODULE_TARGET_policy tollgate_policy)
set(TOLLGATE_MODULE_TARGET_config tollgate_config)
set(TOLLGATE_MODULE_TARGET_eventlog tollgate_eventlog)
set(TOLLGATE_MODULE_TARGET_control tollgate_control)
set(TOLLGATE_MODULE_TARGET_census tollgate_census)
set(TOLLGATE_MODULE_TARGET_enforcer tollgate_enforcer)
set(TOLLGATE_MODULE_TARGET_tools tollgate_cli)
