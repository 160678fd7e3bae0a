# ctest: fails when a key of the daemon's key table (daemon/config.c, CONFIG_KEYS) is missing
# from rollcalld.conf(5) or a command of the client's table (client/main.c) from rollcall(1).
# Run as cmake -DSOURCE_DIR=... -DMAN_DIR=... -P CheckManPages.cmake; a name counts as present
# when the page sets it in bold (\fBname\fR), as its KEYS and COMMANDS sections do.
file(READ "${SOURCE_DIR}/daemon/config.c" config_source)
file(READ "${SOURCE_DIR}/client/main.c" client_source)
file(READ "${MAN_DIR}/rollcalld.conf.5" conf_page)
file(READ "${MAN_DIR}/rollcall.1" client_page)

string(REGEX MATCHALL "KEY\\(([a-z_0-9]+), CT_" key_matches "${config_source}")
string(REGEX MATCHALL "\n\t{\"([a-z -]+)\", cmd_" command_matches "${client_source}")
list(LENGTH key_matches key_count)
list(LENGTH command_matches command_count)
if(key_count LESS 10 OR command_count LESS 5)
  message(FATAL_ERROR "found only ${key_count} config keys and ${command_count} commands: "
                      "has the layout of the tables changed?")
endif()

set(missing "")
foreach(match ${key_matches})
  string(REGEX REPLACE "KEY\\(([a-z_0-9]+), CT_" "\\1" key "${match}")
  string(FIND "${conf_page}" "\\fB${key}\\fR" at)
  if(at EQUAL -1)
    list(APPEND missing "rollcalld.conf(5): key ${key}")
  endif()
endforeach()
foreach(match ${command_matches})
  string(REGEX REPLACE "\n\t{\"([a-z -]+)\", cmd_" "\\1" command "${match}")
  string(FIND "${client_page}" "\\fB${command}\\fR" at)
  if(at EQUAL -1)
    list(APPEND missing "rollcall(1): command ${command}")
  endif()
endforeach()
if(missing)
  list(JOIN missing "\n  " text)
  message(FATAL_ERROR "missing from the manual pages (docs/man/*.scd):\n  ${text}")
endif()
message(STATUS "manual pages name all ${key_count} config keys and ${command_count} commands")
