// The cella search-space language. The only grammar file; C++ is generated from it at build time.
// See docs/language.md for what each construct means.
grammar Cella;

file : item* EOF ;

item
  : importDecl
  | opDecl
  | opsetDecl
  | cellDecl
  | networkDecl
  | searchDecl
  ;

// import std.ops            (a module on the search path)
// import "my_ops.cella"     (a file relative to the importing file)
importDecl : 'import' (dottedName | STRING) ';'? ;
dottedName : name ('.' name)* ;

// op nor_conv(k, stride = 1) = relu >> conv(k, stride = stride) >> bn
opDecl : 'op' name paramList? '=' expr ';'? ;
paramList : '(' (param (',' param)* ','?)? ')' ;
param : name ('=' expr)? ;

// opset nb201 = [none, skip_connect, nor_conv(3) as nor_conv_3x3]
opsetDecl : 'opset' name '=' expr ';'? ;

// cell darts_reduce : darts_normal { reduction }
cellDecl : 'cell' name (':' name)? '{' cellStmt* '}' ;

cellStmt
  : 'inputs' expr ';'?                                        # inputsStmt
  | 'nodes' expr (':' expr)? ';'?                             # nodesStmt
  | 'node' expr (':' expr)? nodeOpt* ';'?                     # nodeStmt
  | 'edge' expr '->' expr ':' expr optionalMark? ';'?         # edgeStmt
  | 'edges' 'all' ':' expr optionalMark? ';'?                 # edgesAllStmt
  | 'combine' combineSpec ';'?                                # combineStmt
  | 'select' expr ';'?                                        # selectStmt
  | 'output' expr ';'?                                        # outputStmt
  | 'reduction' ';'?                                          # reductionStmt
  | 'constraint' expr ';'?                                    # constraintStmt
  ;
nodeOpt : 'combine' combineSpec | 'select' expr ;
// `combine sum`, or a choice: `combine [sum, concat]`
combineSpec : name | '[' name (',' name)* ','? ']' ;
optionalMark : 'optional' ;

// network nb201(C = 16, N = 5, classes = 10) { ... }
networkDecl : 'network' name paramList? '{' netStmt* '}' ;

netStmt
  : 'stem' expr ';'?                                          # stemStmt
  | 'stage' name stageArgs? ('*' primary)? stageOpt* ';'?     # stageStmt
  | 'resolution' expr ('step' expr)? ';'?                     # resolutionStmt
  | 'layer' expr ';'?                                         # layerStmt
  | 'head' expr ';'?                                          # headStmt
  | 'auxiliary' expr ('weight' expr)? ';'?                    # auxiliaryStmt
  | 'share' name ';'?                                         # shareStmt
  ;
// `stage ofa_block(se = true) * [2, 3, 4]`: the body's arguments, as in a call
stageArgs : '(' (arg (',' arg)* ','?)? ')' ;
stageOpt : 'width' expr | 'stride' expr ;

// search hep on nb201 { data fashion_mnist; split hierarchical { at [10, 20, 30] } }
searchDecl : 'search' name 'on' name block ;
block : '{' setting* '}' ;
setting : name expr? block? ';'? ;

expr
  : primary                                                   # atomExpr
  | '-' expr                                                  # negExpr
  | expr op=('*' | '/' | '%') expr                            # mulExpr
  | expr op=('+' | '-') expr                                  # addExpr
  | expr '..' expr                                            # rangeExpr
  | expr op=('<' | '<=' | '>' | '>=' | '==' | '!=') expr      # cmpExpr
  | 'not' expr                                                # notExpr
  | expr 'and' expr                                           # andExpr
  | expr 'or' expr                                            # orExpr
  | expr '>>' expr                                            # seqExpr
  ;

primary
  : INT                                                       # intLit
  | FLOAT                                                     # floatLit
  | STRING                                                    # stringLit
  | ('true' | 'false')                                        # boolLit
  | name '(' (arg (',' arg)* ','?)? ')'                       # callExpr
  | name                                                      # nameExpr
  | '(' expr ')'                                              # parenExpr
  | '[' listItem 'for' name 'in' expr (',' name 'in' expr)* ']' # comprehension
  | '[' (listItem (',' listItem)* ','?)? ']'                  # listExpr
  ;
arg : (name '=')? expr ;
listItem : expr ('as' (name | STRING))? ;

// Keywords that only mean something in one place stay usable as names elsewhere
// (conv(3, stride = 2), constraint edges <= 9, output last).
name
  : IDENT | 'inputs' | 'nodes' | 'node' | 'edge' | 'edges' | 'all' | 'combine' | 'select'
  | 'output' | 'reduction' | 'constraint' | 'optional' | 'stem' | 'stage'
  | 'layer' | 'head' | 'share' | 'width' | 'stride' | 'on' | 'cell' | 'network'
  | 'auxiliary' | 'weight' | 'resolution' | 'step'
  ;

INT : [0-9]+ ;
FLOAT : [0-9]+ '.' [0-9]+ EXP? | [0-9]+ EXP ;
fragment EXP : [eE] [+-]? [0-9]+ ;
STRING : '"' (~["\\\r\n] | '\\' .)* '"' ;
IDENT : [a-zA-Z_] [a-zA-Z_0-9]* ;
LINE_COMMENT : ('//' | '#') ~[\r\n]* -> skip ;
BLOCK_COMMENT : '/*' .*? '*/' -> skip ;
WS : [ \t\r\n\f]+ -> skip ;
// Anything else becomes one token so that the parser, not the lexer, reports it with a location.
ERROR_CHAR : . ;
