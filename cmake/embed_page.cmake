# Turns a page's source into C. The page IN has its style and script in files of their own: the
# contents of STYLE and SCRIPT go in place of the markers @ZDAG_STYLE@ and @ZDAG_SCRIPT@. Then
# the bytes before the marker @ZDAG_REPORT@ become NAME_head and those after it NAME_tail (each
# with its length), so the program writes the page with a report in that marker's place. Run as
#   cmake -DIN=page.html -DSTYLE=page.css -DSCRIPT=page.js -DOUT=page.c -DNAME=zd_timeline
#         -P embed_page.cmake
file(READ "${IN}" page)
file(READ "${STYLE}" style)
file(READ "${SCRIPT}" script)
string(TOLOWER "${script}${style}" lower)
string(FIND "${lower}" "</script" closes)
string(FIND "${lower}" "</style" closes_style)
if(closes GREATER -1 OR closes_style GREATER -1)
  message(FATAL_ERROR "${SCRIPT} or ${STYLE} has a </script or </style: it would end its element")
endif()
string(FIND "${page}" "@ZDAG_REPORT@" at)
if(at LESS 0)
  message(FATAL_ERROR "${IN}: no @ZDAG_REPORT@ marker where the report goes")
endif()
string(SUBSTRING "${page}" 0 ${at} head)
math(EXPR after "${at} + 13")
string(SUBSTRING "${page}" ${after} -1 tail)
set(c "/* Made by cmake/embed_page.cmake from ${IN}: do not edit. */\n#include <stddef.h>\n")
foreach(part head tail)
  string(REPLACE "@ZDAG_STYLE@" "${style}" text "${${part}}")
  string(REPLACE "@ZDAG_SCRIPT@" "${script}" text "${text}")
  string(HEX "${text}" hex)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n" bytes "${bytes}")
  string(APPEND c "const char ${NAME}_${part}[] = {\n${bytes}0};\n"
                  "const size_t ${NAME}_${part}_len = ${n};\n")
endforeach()
file(WRITE "${OUT}.tmp" "${c}")
file(RENAME "${OUT}.tmp" "${OUT}")
